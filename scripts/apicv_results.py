#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""apicv_results: results.json, JUnit XML and the qualification report.

run_tests.sh calls this on the host once a run has ended (write_results):

    apicv_results.py --manifest FILE --run-dir DIR --exit N --version V
        --seed N --profile P --negative 0|1 --bin-dir DIR --self-dir DIR
        [--junit FILE] [--report DIR] --timeout N
        [--kvm-patches "FILE\\nFILE"] [--kvm-src DIR]

The manifest has a line per run, tab-separated: label (a kernel, or
"host"), its KTAP file, its log directory, and the VM's exit ("-" for
none).  Writes DIR/results.json, the JUnit file and the report directory
(report.md, report.json, results.json, the KTAP of each run, raw CPUID).

Test binaries from libtest/ ("libtest/NAME" in the KTAP) are the
library's own tests: their group is "lib", every other binary's "kvm"
(KVM conformance); each is counted apart.
"""
import argparse
import gzip
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

RESULT_HEAD = re.compile(r'^(not )?ok (\d+)(?: |$)')
PLAN = re.compile(r'^1\.\.(\d+)')
# Lines of the runner's own in a binary's block, not the binary's output.
RUNNER = ('# kmsg: ', '# dmesg: ', '# runner: ', '# TIMEOUT: ', '# | ', '# run: ')
BLOCK_START = ('# selftests: apicv: ', '# negative control: ')
HEADER_KEYS = ('kernel', 'cpu', 'kvm', 'kvm_amd', 'kvm_intel', 'seed', 'kernel log')
BAD_XML = re.compile('[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')
STATUS_KEY = {'pass': 'passed', 'fail': 'failed', 'skip': 'skipped'}
# Groups of test binaries: the library's self-tests, KVM conformance.
LIB_PREFIX = 'libtest/'
GROUPS = ('kvm', 'lib')
GROUP_TITLE = {'kvm': 'KVM conformance', 'lib': 'library self-tests'}


# ---- KTAP ----

def parse_result(line):
    """A KTAP result line ("ok 3 name # SKIP why", "ok 1 # SKIP why") as
    (not_ok, number, name, directive), or None for any other line."""
    m = RESULT_HEAD.match(line)
    if not m:
        return None
    rest = line[m.end():]
    if rest.startswith('# '):
        name, directive = '', rest[2:]
    else:
        name, _, directive = rest.partition(' # ')
    return bool(m.group(1)), m.group(2), name or None, directive or None


def status_of(notok, directive):
    """(status, reason) of a result: pass, fail or skip."""
    d = (directive or '').strip()
    if notok:
        return 'fail', d
    if d.upper().startswith('SKIP'):
        return 'skip', d[4:].strip()
    # A known bug's expected failure: the harness's XFAIL result, or the
    # "SKIP XFAIL ..." older harnesses give; both are reported as skips.
    if d.upper().startswith('XFAIL'):
        return 'skip', d
    return 'pass', d


def group_of(name):
    """"lib" for a libtest/ binary (or a negative control of one), else "kvm"."""
    if name.startswith('negative:'):
        name = name[len('negative:'):]
    return 'lib' if name.startswith(LIB_PREFIX) else 'kvm'


def subtests_of(lines):
    """The subtests of a binary's output, each with the lines before it."""
    subs, out = [], []
    for line in lines:
        r = parse_result(line)
        if r:
            st, why = status_of(r[0], r[3])
            name = r[2] or ('subtest %s' % r[1])
            subs.append({'name': name, 'status': st, 'reason': why, 'output': out})
            out = []
        elif not line.startswith('TAP version') and not PLAN.match(line):
            out.append(line)
    return subs


def block_name(line):
    """The binary of a "# selftests: apicv: x86/NAME" block's first line."""
    return line.split()[3].replace('x86/', '')


def header_line(run, line):
    """A "# key: value" line of the run's header, before any result."""
    k, _, v = line[2:].partition(': ')
    if v and k in HEADER_KEYS:
        run['header'][k] = v
    elif line.startswith('# kvm'):
        k, _, v = line[2:].partition(':')
        run['header'][k] = v.strip()


def stopped_test(run, block):
    """The binary that ran when the run stopped (kernel crash, VM limit)."""
    why = 'no result: the run stopped while it ran (kernel crash or time limit)'
    if any(' ended on an emulator fault: stopping here' in b for b in block):
        why = ('no result: it ended on an emulator fault in every fresh kernel '
               'the runner booted for it')
    add_test(run, block, block_name(block[0]), 'fail', why)


def parse_stream(path):
    """A run's KTAP: its header, plan and a test per binary."""
    run = {'header': {}, 'plan': None, 'started': False, 'tests': [], 'open': None}
    try:
        with open(path, errors='replace') as f:
            text = f.read().splitlines()
    except OSError:
        return run
    block, in_block = [], False
    for line in text:
        r = parse_result(line)
        if r:
            st, why = status_of(r[0], r[3])
            add_test(run, block, r[2] or '', st, why)
            block, in_block, run['open'] = [], False, None
            continue
        if line.startswith('TAP version'):
            run['started'] = True
            continue
        p = PLAN.match(line)
        if p and run['plan'] is None:
            run['plan'] = int(p.group(1))
            continue
        if line.startswith(BLOCK_START):
            block, in_block = [line], True
            run['open'] = block_name(line)
            continue
        if in_block:
            block.append(line)
        elif not run['tests'] and line.startswith('# '):
            header_line(run, line)
    if in_block and run['open']:
        stopped_test(run, block)
    return run


def add_test(run, block, name, st, why):
    """A binary's result, with what its block of output says about it."""
    t = {'name': name, 'status': st, 'reason': why,
         'exit': None, 'seconds': None, 'log': [], 'kmsg': [],
         'kmsg_reports': [], 'timeout_tail': []}
    t['kind'] = 'negative' if name.startswith('negative:') else 'test'
    t['group'] = group_of(name)
    for b in block:
        if b.startswith('# kmsg: '):
            t['kmsg_reports'].append(b[8:])
        elif b.startswith('# dmesg: '):
            t['kmsg'].append(b[9:])
        elif b.startswith('# | '):
            t['timeout_tail'].append(b[4:])
        elif b.startswith('# runner: '):
            r = re.search(r'exit=(\d+) time=(\d+)s', b)
            if r:
                t['exit'], t['seconds'] = int(r.group(1)), int(r.group(2))
        elif b.startswith(RUNNER) or b.startswith(BLOCK_START):
            continue
        elif b.startswith('# ') or b == '#':
            t['log'].append(b[2:])
        elif b:
            t['log'].append(b)
    t['subtests'] = subtests_of(t['log'])
    run['tests'].append(t)


# ---- runs of the manifest ----

def read(path, limit=None):
    """A file's text, or None when it cannot be read."""
    try:
        with open(path, errors='replace') as f:
            return f.read(limit) if limit else f.read()
    except OSError:
        return None


def write_text(path, text):
    with open(path, 'w') as f:
        f.write(text)


def lines_text(lines):
    return '\n'.join(lines) + ('\n' if lines else '')


def write_logs(run, d):
    """A booted kernel's run: each binary's log and kernel log into D."""
    for t in run['tests']:
        base = t['name'].replace('negative:', 'negative.').replace(':', '.').replace('/', '_')
        write_text(os.path.join(d, base + '.log'), lines_text(t['log']))
        write_text(os.path.join(d, base + '.kmsg'), lines_text(t['kmsg']))
        t['log_file'] = os.path.join(d, base + '.log')
        t['kmsg_file'] = os.path.join(d, base + '.kmsg')


def host_logs(run, d):
    """A host run: the runner wrote each binary's logs under D."""
    for t in run['tests']:
        if t['kind'] == 'test':
            base = os.path.join(d, t['name'])
        else:
            _, b, flt = (t['name'].split(':') + ['', ''])[:3]
            base = os.path.join(d, 'negative', '%s.%s' % (b, flt))
        t['log_file'], t['kmsg_file'] = base + '.log', base + '.kmsg'


def console_fails(run, cf):
    """What the L1 kernel's console reported while a binary ran fails it."""
    why = {}
    with open(cf, errors='replace') as f:
        for c in f:
            n, _, r = c.rstrip('\n').partition('\t')
            why.setdefault(n, r)
    for t in run['tests']:
        if t['name'] in why:
            r = why[t['name']]
            if t['status'] == 'fail' and t['reason']:
                r += '; ' + t['reason']
            elif t['status'] != 'fail':
                r += ' (its rerun: %s)' % t['status']
            t['status'], t['reason'] = 'fail', r


def load_run(label, ktap, d, vmrc):
    """One line of the manifest."""
    run = parse_stream(ktap)
    run['label'] = label
    run['ktap'] = ktap
    run['vm_exit'] = None if vmrc == '-' else int(vmrc)
    vm = label != 'host'
    if vm:
        write_logs(run, d)
        cf = os.path.join(d, 'console-fails')
        if os.path.exists(cf):
            console_fails(run, cf)
    else:
        host_logs(run, d)
    for f in ('infra', 'missing', 'nmissing'):
        p = os.path.join(d, f)
        run[f] = read(p).strip() if vm and os.path.exists(p) else None
    run['nmissing'] = int(run['nmissing'] or 0)
    if not vm and run['plan'] is not None:
        run['nmissing'] = max(0, run['plan'] - len(run['tests']))
    return run


def load_runs(manifest):
    with open(manifest) as f:
        return [load_run(*line.rstrip('\n').split('\t')) for line in f]


# ---- results.json ----

def summary(runs):
    """Binaries passed, failed, skipped; one with no result has failed."""
    s = {'passed': 0, 'failed': 0, 'skipped': 0}
    for r in runs:
        for t in r['tests']:
            s[STATUS_KEY[t['status']]] += 1
        s['failed'] += r['nmissing']
    return s


def group_summary(runs):
    """summary() per group of binaries; those with no result are in none
    (their names are unknown): summary's failed counts them."""
    s = {g: {'passed': 0, 'failed': 0, 'skipped': 0} for g in GROUPS}
    for r in runs:
        for t in r['tests']:
            s[t['group']][STATUS_KEY[t['status']]] += 1
    return s


def has_lib(runs):
    return any(t['group'] == 'lib' for r in runs for t in r['tests'])


def counts_text(s):
    return '%(passed)d passed, %(failed)d failed, %(skipped)d skipped' % s


def kvm_change(a):
    """What --kvm-patch/--kvm-src put under test; None for stock KVM."""
    patches = [p for p in a.kvm_patches.split('\n') if p]
    if not patches and not a.kvm_src:
        return None
    out = {'src': a.kvm_src or None, 'patches': []}
    for p in patches:
        with open(p, 'rb') as f:
            out['patches'].append({'file': p,
                                   'sha256': hashlib.sha256(f.read()).hexdigest()})
    return out


def test_json(t):
    return {'name': t['name'], 'kind': t['kind'], 'group': t['group'],
            'status': t['status'], 'reason': t['reason'], 'exit': t['exit'],
            'seconds': t['seconds'], 'log': t.get('log_file'),
            'kmsg': t.get('kmsg_file'), 'kmsg_reports': t['kmsg_reports'],
            'subtests': [{'name': s['name'], 'status': s['status'],
                          'reason': s['reason']} for s in t['subtests']]}


def results_json(runs, a):
    out = {'suite': 'apicv-selftests', 'version': a.version, 'seed': int(a.seed),
           'profile': a.profile, 'negative': a.negative == '1',
           'timeout': int(a.timeout), 'exit': int(a.exit),
           'date': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
           'host': {'kernel': platform.release(), 'machine': platform.machine()},
           'summary': summary(runs), 'groups': group_summary(runs),
           'kvm': kvm_change(a), 'runs': []}
    for r in runs:
        out['runs'].append({
            'label': r['label'], 'info': r['header'], 'plan': r['plan'],
            'vm_exit': r['vm_exit'], 'infra_error': r.get('infra'),
            'missing': r.get('missing'), 'no_result': r['nmissing'],
            'ktap': r['ktap'], 'tests': [test_json(t) for t in r['tests']]})
    return out


# ---- JUnit ----

def clean(s):
    return BAD_XML.sub('', s)


def junit_cases(t):
    """(name, status, reason, output) of a binary's testcases: a case per
    subtest, and one for the binary when its verdict is not in those."""
    cases = [(s['name'], s['status'], s['reason'], s['output']) for s in t['subtests']]
    failing_sub = any(s['status'] == 'fail' for s in t['subtests'])
    if not t['subtests'] or (t['status'] == 'fail' and not failing_sub) \
            or t['kmsg_reports']:
        detail = t['kmsg_reports'] or t['timeout_tail'] or t['log'][-20:]
        cases.append((t['name'], t['status'], t['reason'], detail))
    return cases


def junit_suite(root, r, t, sname, a):
    """A binary's testsuite; returns (tests, failures, skipped)."""
    ts = ET.SubElement(root, 'testsuite', name=sname)
    props = ET.SubElement(ts, 'properties')
    for k, v in (('kernel', r['header'].get('kernel', r['label'])),
                 ('seed', a.seed), ('profile', a.profile),
                 ('exit', '' if t['exit'] is None else str(t['exit'])),
                 ('group', t['group'])):
        ET.SubElement(props, 'property', name=k, value=clean(str(v)))
    cases = junit_cases(t)
    nf = ns = 0
    for name, st, why, out in cases:
        tc = ET.SubElement(ts, 'testcase', name=clean(name), classname=clean(sname))
        if st == 'fail':
            nf += 1
            msg = why or next((line for line in out if re.search(
                r'Expected|ASSERT|FAIL|fail', line)), 'failed')
            e = ET.SubElement(tc, 'failure', message=clean(msg.strip('# ')))
            e.text = clean('\n'.join(out))
        elif st == 'skip':
            ns += 1
            ET.SubElement(tc, 'skipped', message=clean(why or 'skipped'))
    ts.set('tests', str(len(cases)))
    ts.set('failures', str(nf))
    ts.set('errors', '0')
    ts.set('skipped', str(ns))
    ts.set('time', str(t['seconds'] or 0))
    so = ET.SubElement(ts, 'system-out')
    body = t['log'] + (['', '-- kernel log --'] + t['kmsg'] if t['kmsg'] else [])
    so.text = clean('\n'.join(body)[-1000000:])
    return len(cases), nf, ns


def junit_infra(root, r, what, msg):
    """A run that could not test (boot) or left binaries without result."""
    ts = ET.SubElement(root, 'testsuite', name='%s/%s' % (r['label'], what),
                       tests='1', failures='0', errors='1', skipped='0')
    tc = ET.SubElement(ts, 'testcase', name=what, classname=r['label'])
    ET.SubElement(tc, 'error', message=clean(msg))


def junit(runs, a, path):
    """A testsuite per binary (a libtest/ binary's name keeps its
    "libtest/" and its "group" property says "lib"), a testcase per
    subtest."""
    root = ET.Element('testsuites', name='apicv-selftests')
    tot = {'tests': 0, 'failures': 0, 'errors': 0, 'skipped': 0}
    multi = len(runs) > 1 or runs[0]['label'] != 'host'
    for r in runs:
        for t in r['tests']:
            sname = ('%s/%s' % (r['label'], t['name'])) if multi else t['name']
            n, nf, ns = junit_suite(root, r, t, sname, a)
            tot['tests'] += n
            tot['failures'] += nf
            tot['skipped'] += ns
        for what, msg in (('boot', r.get('infra')), ('missing', r.get('missing'))):
            if msg:
                junit_infra(root, r, what, msg)
                tot['tests'] += 1
                tot['errors'] += 1
    for k, v in tot.items():
        root.set(k, str(v))
    ET.ElementTree(root).write(path, encoding='utf-8', xml_declaration=True)


# ---- the host, for the qualification report ----

def run_cmd(argv, timeout=60):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, universal_newlines=True)
        return p.returncode, p.stdout
    except (OSError, subprocess.SubprocessError) as e:
        return None, str(e)


def cpuinfo():
    """The first CPU's /proc/cpuinfo fields."""
    info = {}
    for line in (read('/proc/cpuinfo') or '').splitlines():
        if not line.strip():
            if info:
                break
            continue
        k, _, v = line.partition(':')
        info[k.strip()] = v.strip()
    return info


CPUID_LINE = re.compile(r'\s*0x([0-9a-f]+) 0x([0-9a-f]+): eax=0x([0-9a-f]+) ebx=0x([0-9a-f]+)'
                        r' ecx=0x([0-9a-f]+) edx=0x([0-9a-f]+)')


def cpuid_leaves(raw):
    """{(leaf, subleaf): (eax, ebx, ecx, edx)} of `cpuid -r -1`'s text."""
    leaves = {}
    for line in raw.splitlines():
        m = CPUID_LINE.match(line)
        if m:
            leaf, sub = int(m.group(1), 16), int(m.group(2), 16)
            leaves.setdefault((leaf, sub), tuple(int(m.group(i), 16) for i in range(3, 7)))
    return leaves


def cpuid_from_dev():
    """Key leaves through the cpuid driver when the cpuid tool is absent."""
    lines = []
    try:
        fd = os.open('/dev/cpu/0/cpuid', os.O_RDONLY)
    except OSError:
        return None
    try:
        for leaf in (0, 1, 7, 0xd, 0x40000000, 0x40000001, 0x80000000, 0x80000001, 0x8000000a):
            try:
                b = os.pread(fd, 16, leaf)
            except OSError:
                continue
            regs = [int.from_bytes(b[i:i + 4], 'little') for i in range(0, 16, 4)]
            lines.append('   0x%08x 0x00: eax=0x%08x ebx=0x%08x ecx=0x%08x edx=0x%08x'
                         % ((leaf,) + tuple(regs)))
    finally:
        os.close(fd)
    return 'CPU 0 (/dev/cpu/0/cpuid):\n' + '\n'.join(lines) + '\n'


def raw_cpuid():
    """(text, source) of the host's raw CPUID, or (None, None)."""
    if shutil.which('cpuid'):
        rc, raw = run_cmd(['cpuid', '-r', '-1'])
        if rc == 0:
            return raw, 'cpuid -r -1'
    raw = cpuid_from_dev()
    return raw, ('/dev/cpu/0/cpuid' if raw else None)


def kvm_params():
    out = {}
    for m in ('kvm', 'kvm_amd', 'kvm_intel'):
        d = '/sys/module/%s/parameters' % m
        if not os.path.isdir(d):
            continue
        out[m] = {}
        for p in sorted(os.listdir(d)):
            v = read(os.path.join(d, p))
            if v is not None:
                out[m][p] = v.strip()
    return out


CONFIG_RE = re.compile(r'^(# )?CONFIG_(KVM|X86_X2APIC|X86_LOCAL_APIC|HYPERV|IRQ_REMAP|AMD_IOMMU'
                       r'|INTEL_IOMMU|KASAN|UBSAN|PROVE_LOCKING|LOCKDEP|PROVE_RCU|DEBUG_ATOMIC_SLEEP'
                       r'|PREEMPT|HZ|NO_HZ|NUMA|TRACING|FTRACE|DEBUG_KMEMLEAK|SOFTLOCKUP_DETECTOR'
                       r'|DETECT_HUNG_TASK|RCU_CPU_STALL|PANIC_ON_OOPS|BUG_ON_DATA_CORRUPTION'
                       r'|IRQ_BYPASS_MANAGER|VIRTUALIZATION|PARAVIRT)\w*[ =]')
CONFIG_NAME = re.compile(r'^(?:# )?(CONFIG_\w+)')


def kernel_config(selfdir):
    """(source, lines) of the host kernel's configuration that matter:
    the suite's config fragment's options and CONFIG_RE's."""
    try:
        with gzip.open('/proc/config.gz', 'rt') as f:
            text = f.read()
        src = '/proc/config.gz'
    except OSError:
        src = '/boot/config-' + platform.release()
        text = read(src)
    if text is None:
        return None, []
    wanted = set()
    for line in (read(os.path.join(selfdir, 'config')) or '').splitlines():
        m = CONFIG_NAME.match(line)
        if m:
            wanted.add(m.group(1))
    lines = []
    for line in text.splitlines():
        m = CONFIG_NAME.match(line)
        if m and (m.group(1) in wanted or CONFIG_RE.match(line)):
            lines.append(line)
    return src, lines


def numa():
    if shutil.which('numactl'):
        rc, out = run_cmd(['numactl', '--hardware'])
        if rc == 0:
            return 'numactl --hardware', out
    d = '/sys/devices/system/node'
    if os.path.isdir(d):
        rows = []
        for n in sorted(x for x in os.listdir(d) if re.match(r'node\d+$', x)):
            cpus = (read(os.path.join(d, n, 'cpulist')) or '').strip()
            dist = (read(os.path.join(d, n, 'distance')) or '').strip()
            rows.append('%s cpus %s distances %s' % (n, cpus, dist))
        return d, '\n'.join(rows) + '\n'
    return None, 'no NUMA information\n'


def bit(leaves, leaf, reg, b):
    v = leaves.get((leaf, 0))
    if v is None:
        return None
    return bool(v[reg] >> b & 1)


def features(ci, leaves, params):
    """The interrupt-virtualization features: CPUID, kernel flag, KVM."""
    flags = set(ci.get('flags', '').split())
    vmx = set(ci.get('vmx flags', '').split())
    ECX, EDX = 2, 3
    f = []

    def add(name, cpuid, flag, src, kvm=None):
        f.append({'feature': name, 'cpuid': cpuid, 'source': src,
                  'kernel_flag': (flag in flags or flag in vmx) if flag else None,
                  'kvm': kvm})

    add('x2APIC', bit(leaves, 1, ECX, 21), 'x2apic', 'CPUID 1 ECX[21]')
    if ci.get('vendor_id') == 'AuthenticAMD' or 'svm' in flags:
        kp = params.get('kvm_amd', {})
        add('SVM', bit(leaves, 0x80000001, ECX, 2), 'svm', 'CPUID 0x80000001 ECX[2]')
        add('NPT', bit(leaves, 0x8000000a, EDX, 0), 'npt', 'CPUID 0x8000000A EDX[0]',
            'npt=%s' % kp.get('npt', '-'))
        add('AVIC', bit(leaves, 0x8000000a, EDX, 13), 'avic', 'CPUID 0x8000000A EDX[13]',
            'avic=%s force_avic=%s' % (kp.get('avic', '-'), kp.get('force_avic', '-')))
        add('vGIF', bit(leaves, 0x8000000a, EDX, 16), 'vgif', 'CPUID 0x8000000A EDX[16]',
            'vgif=%s' % kp.get('vgif', '-'))
        add('x2AVIC', bit(leaves, 0x8000000a, EDX, 18), 'x2avic', 'CPUID 0x8000000A EDX[18]')
        add('IPI virtualization (AVIC)', None, None, 'kvm_amd parameter',
            'enable_ipiv=%s' % kp.get('enable_ipiv', '-'))
    if ci.get('vendor_id') == 'GenuineIntel' or 'vmx' in flags:
        kp = params.get('kvm_intel', {})
        add('VMX', bit(leaves, 1, ECX, 5), 'vmx', 'CPUID 1 ECX[5]')
        for name, flag in (('TPR shadow', 'vtpr'), ('virtualize APIC accesses', 'vapic'),
                           ('APIC-register virtualization', 'vapic_reg'),
                           ('virtual-interrupt delivery', 'vid'),
                           ('posted interrupts', 'posted_intr'),
                           ('APICv (all of the above)', 'apicv'),
                           ('IPI virtualization (IPIv)', 'ipi_virt')):
            add(name, None, flag, 'VMX capability MSRs (/proc/cpuinfo vmx flags)')
        add('KVM APICv', None, None, 'kvm_intel parameters',
            'enable_apicv=%s enable_ipiv=%s' % (kp.get('enable_apicv', '-'),
                                              kp.get('enable_ipiv', '-')))
    return f


def yesno(v):
    return {True: 'yes', False: 'no', None: '-'}[v]


# ---- the qualification report ----

def write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2)


def host_info(a, d, files):
    """What the report says of the host; writes its raw CPUID and KVM's
    supported CPUID into D, adding their names to FILES."""
    ci = cpuinfo()
    raw, raw_src = raw_cpuid()
    if raw:
        write_text(os.path.join(d, 'cpuid-raw.txt'), raw)
        files.append('cpuid-raw.txt')
    kinfo_src = None
    kinfo = os.path.normpath(os.path.join(a.bin_dir, '..', 'tools', 'kvm_info'))
    if os.access(kinfo, os.X_OK):
        rc, out = run_cmd([kinfo])
        write_text(os.path.join(d, 'kvm-supported-cpuid.txt'), out)
        files.append('kvm-supported-cpuid.txt')
        kinfo_src = '%s (exit %s)' % (kinfo, rc)
    params = kvm_params()
    cfg_src, cfg = kernel_config(a.self_dir)
    numa_src, numa_text = numa()
    return {
        'cpu': {k: ci.get(k) for k in ('vendor_id', 'cpu family', 'model', 'model name',
                                       'stepping', 'microcode')},
        'cpus_online': os.cpu_count(),
        'cpuid_raw_source': raw_src,
        'kvm_supported_cpuid_source': kinfo_src,
        'features': features(ci, cpuid_leaves(raw or ''), params),
        'kernel': {'uname': ' '.join(platform.uname()), 'config_source': cfg_src,
                   'config': cfg},
        'kvm_parameters': params,
        'numa': {'source': numa_src, 'text': numa_text},
    }


def md_head(rep, a, res, lib):
    c = rep['host']['cpu']
    raw_src = rep['host']['cpuid_raw_source']
    kinfo_src = rep['host']['kvm_supported_cpuid_source']
    md = ['# apicv-selftests qualification report', '',
          '| item | value |', '|---|---|',
          '| suite version | %s |' % a.version, '| date | %s |' % res['date'],
          '| seed | %s |' % a.seed, '| profile | %s |' % a.profile,
          '| negative controls | %s |' % ('yes' if a.negative == '1' else 'no'),
          '| result | %s |' % counts_text(res['summary'])]
    if lib:
        md += ['| %s | %s |' % (GROUP_TITLE[g], counts_text(res['groups'][g]))
               for g in GROUPS]
    md += ['', '## Host CPU', '',
           '| vendor | family | model | stepping | microcode | name |',
           '|---|---|---|---|---|---|',
           '| %s | %s | %s | %s | %s | %s |' % tuple(c.get(k) or '?' for k in (
               'vendor_id', 'cpu family', 'model', 'stepping', 'microcode', 'model name')),
           '', 'Raw CPUID: %s.  KVM_GET_SUPPORTED_CPUID: %s.' % (
               ('`cpuid-raw.txt` (from %s)' % raw_src) if raw_src else
               'not available (install the cpuid package)',
               ('`kvm-supported-cpuid.txt` (from %s)' % kinfo_src) if kinfo_src else
               'not available (build tools/kvm_info)')]
    return md


def md_host(host):
    md = ['', '## Interrupt-virtualization features', '',
          '| feature | CPUID | kernel flag | where | KVM |', '|---|---|---|---|---|']
    for f in host['features']:
        md.append('| %s | %s | %s | %s | %s |' % (f['feature'], yesno(f['cpuid']),
                                                  yesno(f['kernel_flag']), f['source'],
                                                  f['kvm'] or ''))
    md += ['', '## Kernel', '', '`%s`' % host['kernel']['uname'], '']
    cfg = host['kernel']['config']
    if cfg:
        md += ['Configuration (%s):' % host['kernel']['config_source'], '',
               '```'] + cfg + ['```']
    else:
        md.append('Configuration: not found (/proc/config.gz, /boot/config-*).')
    md += ['', '## KVM module parameters', '']
    params = host['kvm_parameters']
    for m, ps in params.items():
        md.append('- **%s**: %s' % (m, ' '.join('%s=%s' % kv for kv in ps.items())))
    if not params:
        md.append('KVM modules not loaded on this host.')
    md += ['', '## NUMA topology', '', '```', host['numa']['text'].rstrip(), '```']
    return md


def md_tests(tests):
    md = ['| test | result | subtests pass/fail/skip | reason |', '|---|---|---|---|']
    for t in tests:
        n = {s: sum(1 for x in t['subtests'] if x['status'] == s)
             for s in ('pass', 'fail', 'skip')}
        md.append('| %s | %s | %d/%d/%d | %s |' % (t['name'], t['status'].upper(), n['pass'],
                                                  n['fail'], n['skip'],
                                                  (t['reason'] or '').replace('|', '/')))
    return md


def md_run(r):
    """A run's section: its kernel, then its binaries' results; the
    library's self-tests in a table of their own."""
    h = r['header']
    md = ['### %s' % (r['label'] if r['label'] != 'host' else 'this host'), '']
    for k in ('kernel', 'cpu', 'kvm', 'kvm_amd', 'kvm_intel', 'kernel log'):
        if h.get(k):
            md.append('- %s: `%s`' % (k, h[k]))
    if r.get('infra'):
        md.append('- **%s**' % r['infra'])
    md.append('')
    md += md_tests([t for t in r['tests'] if t['group'] != 'lib'])
    lib = [t for t in r['tests'] if t['group'] == 'lib']
    if lib:
        md += ['', 'Library self-tests:', ''] + md_tests(lib)
    md.append('')
    return md


def report(runs, a, d, res):
    """D/report.md and D/report.json, with the files they point to."""
    os.makedirs(d, exist_ok=True)
    files = []
    host = host_info(a, d, files)
    for r in runs:
        dst = os.path.join(d, 'ktap-%s.txt' % re.sub(r'[^A-Za-z0-9._-]', '_', r['label']))
        shutil.copyfile(r['ktap'], dst)
        files.append(os.path.basename(dst))
    write_json(os.path.join(d, 'results.json'), res)
    files.append('results.json')
    lib = has_lib(runs)
    rep = {
        'suite': {'name': 'apicv-selftests', 'version': a.version, 'seed': int(a.seed),
                  'profile': a.profile, 'negative': a.negative == '1',
                  'date': res['date'], 'exit': int(a.exit)},
        'host': host,
        'runs': [{'label': r['label'], 'info': r['header'], 'infra_error': r.get('infra')}
                 for r in runs],
        'results': res['summary'],
        'results_by_group': res['groups'],
        'files': files + ['report.md', 'report.json'],
    }
    write_json(os.path.join(d, 'report.json'), rep)
    md = md_head(rep, a, res, lib) + md_host(host) + ['', '## Results', '']
    for r in runs:
        md += md_run(r)
    md += ['## Files', ''] + ['- `%s`' % f for f in rep['files']] + ['']
    write_text(os.path.join(d, 'report.md'), '\n'.join(md))


# ---- command line ----

OPTIONS = ('manifest', 'run-dir', 'exit', 'version', 'seed', 'profile', 'negative',
           'bin-dir', 'self-dir', 'junit', 'report', 'timeout', 'kvm-patches',
           'kvm-src')


def parse_args(argv):
    ap = argparse.ArgumentParser(prog='apicv_results.py',
                                 description='results.json, JUnit and the report of a run')
    for o in OPTIONS:
        ap.add_argument('--' + o, default='')
    return ap.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    runs = load_runs(a.manifest)
    res = results_json(runs, a)
    path = os.path.join(a.run_dir, 'results.json')
    write_json(path, res)
    # The runner prints the summary lines, per group too (summary_lines).
    print('# results: %s' % path)
    if a.junit:
        junit(runs, a, a.junit)
        print('# junit: %s' % a.junit)
    if a.report:
        report(runs, a, a.report, res)
        print('# report: %s' % os.path.join(a.report, 'report.md'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
