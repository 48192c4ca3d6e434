#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Tests of scripts/apicv_results.py (results.json, JUnit, report) on
KTAP written here: no VM, no KVM.

    python3 scripts/check/apicv_results_test.py [-v]
    python3 -m unittest discover -s scripts/check -p 'apicv_results_test.py'
"""
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import apicv_results as ar  # noqa: E402

# A host run: every kind of row the runner prints.
HOST_KTAP = """TAP version 13
1..7
# apicv-selftests v1: host
# kernel: 6.12.0-test (host)
# cpu: Fake CPU
# kvm: halt_poll_ns=0 tdp_mmu=Y
# kvm_amd: avic=N force_avic=N
# seed: 42 (rerun with --seed 42), profile: ci
# selftests: apicv: x86/pass_test
# TAP version 13
# 1..4
# #  RUN           a.one ...
# #            OK  a.one
# ok 1 a.one
# ok 2 a.two # SKIP no x2APIC
# ok 3 a.three # XFAIL known KVM bug
# ok 4 # SKIP XFAIL known KVM bug on 6.1: aliased IDs
# runner: exit=0 time=3s
ok 1 pass_test
# selftests: apicv: x86/fail_test
# TAP version 13
# 1..2
# # FAIL x86/fail_test.c:12: Expected 1 == 2
# not ok 1 b.one
# ok 2 b.two
# kmsg: [    1.0] WARNING: CPU: 0 PID: 1 at arch/x86/kvm/x86.c:1
# dmesg: [    1.0] WARNING: CPU: 0 PID: 1 at arch/x86/kvm/x86.c:1
# dmesg: [    1.1] Modules linked in: kvm_amd
# runner: exit=1 time=2s
not ok 2 fail_test # exit=1
# selftests: apicv: x86/hang_test
# TIMEOUT: killed after 2s; the last lines it printed:
# | # FAIL x86/hang_test.c:9: stuck \x01here
# | # global.hang: terminated by signal 6
# runner: exit=124 time=2s
not ok 3 hang_test # TIMEOUT 2s
# selftests: apicv: libtest/guest_runtime_test
# TAP version 13
# 1..2
# ok 1 rt.printf
# not ok 2 rt.exceptions
# runner: exit=1 time=1s
not ok 4 libtest/guest_runtime_test # exit=1
# negative control: negative:halt_wakeup_test:skip_one_ipi (APICV_FAULT=skip_one_ipi x86/halt_wakeup_test -t 'w.ipi')
# # FAIL x86/halt_wakeup_test.c:308: never delivered
# not ok 1 w.ipi
# runner: exit=1 time=4s
ok 5 negative:halt_wakeup_test:skip_one_ipi # expected failure seen
# negative control: negative:tpr_test:held (APICV_FAULT=held x86/tpr_test -t 't.held')
# # FAIL x86/tpr_test.c:50: something else
# not ok 1 t.held
# runner: exit=1 time=1s
not ok 6 negative:tpr_test:held # the test failed, but not the check the control targets: no 'held vector taken' in its output
# negative control: negative:libtest/guest_runtime_test:bad_printf (APICV_FAULT=bad_printf libtest/guest_runtime_test)
# not ok 1 rt.printf
# runner: exit=1 time=1s
ok 7 negative:libtest/guest_runtime_test:bad_printf # expected failure seen
"""

# A booted kernel's run that stopped while a binary ran.
VM_KTAP = """TAP version 13
1..3
# kernel: 6.1.0-test (debian-6.1)
# selftests: apicv: x86/ipi_test
# ok 1 i.one
# runner: exit=0 time=1s
ok 1 ipi_test
# selftests: apicv: libtest/guest_runtime_test
# ok 1 rt.printf
# runner: exit=0 time=1s
ok 2 libtest/guest_runtime_test # SKIP no /dev/kvm
# selftests: apicv: x86/pic_test
# ok 1 p.one
# pic_test ended on an emulator fault: stopping here
"""


def args(tmp, **kw):
    a = dict(manifest=os.path.join(tmp, 'manifest'), run_dir=tmp, exit='1',
             version='v1', seed='42', profile='ci', negative='0',
             bin_dir=os.path.join(tmp, 'nobin', 'x86'), self_dir=tmp,
             junit='', report='', timeout='300', kvm_patches='', kvm_src='')
    a.update(kw)
    argv = []
    for k, v in a.items():
        argv += ['--' + k.replace('_', '-'), v]
    return argv


class Tmp(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='apicv-results-test.')
        self.addCleanup(shutil.rmtree, self.tmp)

    def write(self, rel, text):
        p = os.path.join(self.tmp, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, 'w') as f:
            f.write(text)
        return p

    def host_run(self):
        return ar.load_run('host', self.write('ktap.txt', HOST_KTAP), self.tmp, '-')

    def vm_run(self, label='debian-6.1'):
        d = os.path.join(self.tmp, label)
        run = ar.load_run(label, self.write(label + '/ktap.txt', VM_KTAP), d, '0')
        return run, d

    def main(self, *lines, **kw):
        self.write('manifest', ''.join('\t'.join(line) + '\n' for line in lines))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(ar.main(args(self.tmp, **kw)), 0)
        with open(os.path.join(self.tmp, 'results.json')) as f:
            return json.load(f), out.getvalue()


class Rows(unittest.TestCase):
    def test_result_lines(self):
        self.assertEqual(ar.parse_result('ok 3 a.b'), (False, '3', 'a.b', None))
        self.assertEqual(ar.parse_result('not ok 12 x # exit=1'), (True, '12', 'x', 'exit=1'))
        self.assertEqual(ar.parse_result('ok 1 # SKIP why'), (False, '1', None, 'SKIP why'))
        self.assertEqual(ar.parse_result('ok 7'), (False, '7', None, None))
        self.assertIsNone(ar.parse_result('# ok 1 a'))
        self.assertIsNone(ar.parse_result('okay 1'))

    def test_status(self):
        self.assertEqual(ar.status_of(False, None), ('pass', ''))
        self.assertEqual(ar.status_of(True, 'exit=1'), ('fail', 'exit=1'))
        self.assertEqual(ar.status_of(True, 'TIMEOUT 300s'), ('fail', 'TIMEOUT 300s'))
        self.assertEqual(ar.status_of(False, 'SKIP no KVM'), ('skip', 'no KVM'))
        self.assertEqual(ar.status_of(False, 'XFAIL bug'), ('skip', 'XFAIL bug'))
        self.assertEqual(ar.status_of(False, 'SKIP XFAIL bug'), ('skip', 'XFAIL bug'))
        self.assertEqual(ar.status_of(False, 'expected failure seen'),
                         ('pass', 'expected failure seen'))

    def test_group(self):
        self.assertEqual(ar.group_of('libtest/guest_runtime_test'), 'lib')
        self.assertEqual(ar.group_of('negative:libtest/guest_runtime_test:f'), 'lib')
        self.assertEqual(ar.group_of('ipi_test'), 'kvm')
        self.assertEqual(ar.group_of('negative:ipi_test:f'), 'kvm')


class Stream(Tmp):
    def test_host_run(self):
        run = self.host_run()
        self.assertEqual(run['plan'], 7)
        self.assertEqual(run['nmissing'], 0)
        self.assertEqual(run['header']['kernel'], '6.12.0-test (host)')
        self.assertEqual(run['header']['kvm'], 'halt_poll_ns=0 tdp_mmu=Y')
        self.assertEqual(run['header']['kvm_amd'], 'avic=N force_avic=N')
        t = {x['name']: x for x in run['tests']}
        self.assertEqual(list(t), ['pass_test', 'fail_test', 'hang_test',
                                   'libtest/guest_runtime_test',
                                   'negative:halt_wakeup_test:skip_one_ipi',
                                   'negative:tpr_test:held',
                                   'negative:libtest/guest_runtime_test:bad_printf'])
        p = t['pass_test']
        self.assertEqual((p['status'], p['exit'], p['seconds'], p['group']), ('pass', 0, 3, 'kvm'))
        self.assertEqual([(s['name'], s['status'], s['reason']) for s in p['subtests']],
                         [('a.one', 'pass', ''), ('a.two', 'skip', 'no x2APIC'),
                          ('a.three', 'skip', 'XFAIL known KVM bug'),
                          ('subtest 4', 'skip', 'XFAIL known KVM bug on 6.1: aliased IDs')])
        f = t['fail_test']
        self.assertEqual((f['status'], f['reason'], f['exit']), ('fail', 'exit=1', 1))
        self.assertEqual(f['kmsg_reports'], ['[    1.0] WARNING: CPU: 0 PID: 1 at arch/x86/kvm/x86.c:1'])
        self.assertEqual(len(f['kmsg']), 2)
        self.assertNotIn('runner: exit=1 time=2s', f['log'])
        self.assertEqual(f['subtests'][0]['output'], ['# FAIL x86/fail_test.c:12: Expected 1 == 2'])
        h = t['hang_test']
        self.assertEqual((h['status'], h['reason'], h['exit']), ('fail', 'TIMEOUT 2s', 124))
        self.assertEqual(len(h['timeout_tail']), 2)
        self.assertEqual(h['subtests'], [])
        lib = t['libtest/guest_runtime_test']
        self.assertEqual((lib['group'], lib['kind'], lib['status']), ('lib', 'test', 'fail'))
        n = t['negative:halt_wakeup_test:skip_one_ipi']
        self.assertEqual((n['kind'], n['status'], n['reason'], n['group']),
                         ('negative', 'pass', 'expected failure seen', 'kvm'))
        # The control's own failing subtest is output, not the verdict.
        self.assertEqual(n['subtests'][0]['status'], 'fail')
        m = t['negative:tpr_test:held']
        self.assertEqual(m['status'], 'fail')
        self.assertIn('not the check the control targets', m['reason'])
        self.assertEqual(t['negative:libtest/guest_runtime_test:bad_printf']['group'], 'lib')
        # The runner's logs of a host run.
        self.assertEqual(p['log_file'], os.path.join(self.tmp, 'pass_test.log'))
        self.assertEqual(n['kmsg_file'], os.path.join(
            self.tmp, 'negative', 'halt_wakeup_test.skip_one_ipi.kmsg'))

    def test_stopped_run(self):
        run, d = self.vm_run()
        self.write('debian-6.1/console-fails', 'ipi_test\tkernel BUG at x\nipi_test\tlater\n')
        self.write('debian-6.1/nmissing', '1\n')
        self.write('debian-6.1/missing', '1 of 3 tests have no result\n')
        run = ar.load_run('debian-6.1', os.path.join(d, 'ktap.txt'), d, '0')
        t = {x['name']: x for x in run['tests']}
        self.assertEqual(t['ipi_test']['status'], 'fail')
        self.assertEqual(t['ipi_test']['reason'], 'kernel BUG at x (its rerun: pass)')
        self.assertEqual(t['libtest/guest_runtime_test']['status'], 'skip')
        self.assertEqual(t['pic_test']['status'], 'fail')
        self.assertIn('emulator fault in every fresh kernel', t['pic_test']['reason'])
        self.assertEqual((run['nmissing'], run['vm_exit']), (1, 0))
        self.assertEqual(run['missing'], '1 of 3 tests have no result')
        # A booted kernel's logs are written here, "/" made "_".
        with open(os.path.join(d, 'libtest_guest_runtime_test.log')) as f:
            self.assertEqual(f.read(), 'ok 1 rt.printf\n')

    def test_cut_short(self):
        self.write('ktap.txt', 'TAP version 13\n1..5\n# selftests: apicv: x86/a_test\n'
                   'ok 1 a_test\n# selftests: apicv: x86/b_test\n# ok 1 x\n')
        run = ar.load_run('host', os.path.join(self.tmp, 'ktap.txt'), self.tmp, '-')
        self.assertEqual([t['status'] for t in run['tests']], ['pass', 'fail'])
        self.assertIn('the run stopped', run['tests'][1]['reason'])
        self.assertEqual(run['nmissing'], 3)
        self.assertEqual(ar.summary([run]), {'passed': 1, 'failed': 4, 'skipped': 0})

    def test_unreadable(self):
        run = ar.parse_stream(os.path.join(self.tmp, 'none.txt'))
        self.assertEqual((run['tests'], run['plan']), ([], None))


class Outputs(Tmp):
    def test_results_json(self):
        self.write('vm/ktap.txt', VM_KTAP)
        self.write('ktap.txt', HOST_KTAP)
        patch = self.write('fix.patch', 'diff\n')
        res, out = self.main(('host', os.path.join(self.tmp, 'ktap.txt'), self.tmp, '-'),
                             ('debian-6.1', os.path.join(self.tmp, 'vm/ktap.txt'),
                              os.path.join(self.tmp, 'vm'), '3'),
                             kvm_patches=patch + '\n')
        for k in ('suite', 'version', 'seed', 'profile', 'negative', 'timeout', 'exit',
                  'date', 'host', 'summary', 'groups', 'kvm', 'runs'):
            self.assertIn(k, res)
        self.assertEqual((res['seed'], res['exit'], res['negative']), (42, 1, False))
        self.assertEqual(res['kvm']['patches'][0]['file'], patch)
        self.assertEqual(len(res['kvm']['patches'][0]['sha256']), 64)
        # host: pass 3 (pass_test, skip_one_ipi control, libtest control),
        # fail 4; vm: pass 1, skip 1, fail 1 (pic_test stopped).
        self.assertEqual(res['summary'], {'passed': 4, 'failed': 5, 'skipped': 1})
        self.assertEqual(res['groups'], {
            'kvm': {'passed': 3, 'failed': 4, 'skipped': 0},
            'lib': {'passed': 1, 'failed': 1, 'skipped': 1}})
        vm = res['runs'][1]
        self.assertEqual((vm['label'], vm['vm_exit'], vm['plan']), ('debian-6.1', 3, 3))
        t = vm['tests'][1]
        self.assertEqual(sorted(t), ['exit', 'group', 'kind', 'kmsg', 'kmsg_reports', 'log',
                                     'name', 'reason', 'seconds', 'status', 'subtests'])
        self.assertEqual((t['name'], t['group']), ('libtest/guest_runtime_test', 'lib'))
        self.assertEqual(out, '# results: %s\n' % os.path.join(self.tmp, 'results.json'))

    def test_no_lib(self):
        self.write('ktap.txt', 'TAP version 13\n1..1\n# selftests: apicv: x86/a_test\nok 1 a_test\n')
        d = os.path.join(self.tmp, 'report')
        res, out = self.main(('host', os.path.join(self.tmp, 'ktap.txt'), self.tmp, '-'),
                             report=d)
        self.assertEqual(res['groups']['lib'], {'passed': 0, 'failed': 0, 'skipped': 0})
        with open(os.path.join(d, 'report.md')) as f:
            md = f.read()
        # Without self-tests the report reads as before they existed.
        self.assertIn('| result | 1 passed, 0 failed, 0 skipped |', md)
        self.assertNotIn('KVM conformance', md)
        self.assertNotIn('Library self-tests', md)
        self.assertIsNone(res['kvm'])

    def test_junit(self):
        self.write('ktap.txt', HOST_KTAP)
        self.write('vm/ktap.txt', VM_KTAP)
        self.write('vm/infra', 'cannot test: no modules\n')
        path = os.path.join(self.tmp, 'junit.xml')
        self.main(('host', os.path.join(self.tmp, 'ktap.txt'), self.tmp, '-'),
                  ('debian-6.1', os.path.join(self.tmp, 'vm/ktap.txt'),
                   os.path.join(self.tmp, 'vm'), '1'), junit=path)
        root = ET.parse(path).getroot()
        self.assertEqual(root.tag, 'testsuites')
        suites = root.findall('testsuite')
        names = [s.get('name') for s in suites]
        self.assertIn('host/libtest/guest_runtime_test', names)
        self.assertIn('debian-6.1/boot', names)
        tot = {'tests': 0, 'failures': 0, 'errors': 0, 'skipped': 0}
        for s in suites:
            cases = s.findall('testcase')
            self.assertEqual(int(s.get('tests')), len(cases), s.get('name'))
            self.assertEqual(int(s.get('failures')),
                             sum(1 for c in cases if c.find('failure') is not None))
            self.assertEqual(int(s.get('skipped')),
                             sum(1 for c in cases if c.find('skipped') is not None))
            for k in tot:
                tot[k] += int(s.get(k))
            props = {p.get('name'): p.get('value') for p in s.iter('property')}
            if s.get('name').endswith('/boot'):
                continue
            want = 'lib' if '/libtest/' in s.get('name') or ':libtest/' in s.get('name') else 'kvm'
            self.assertEqual(props['group'], want, s.get('name'))
            self.assertEqual(props['seed'], '42')
        for k, v in tot.items():
            self.assertEqual(int(root.get(k)), v, k)
        hang = suites[names.index('host/hang_test')]
        f = hang.find('testcase/failure')
        self.assertEqual(f.get('message'), 'TIMEOUT 2s')
        self.assertNotIn('\x01', f.text)      # control characters dropped
        fail = suites[names.index('host/fail_test')]
        # A kernel report gives the binary a case of its own.
        self.assertEqual([c.get('name') for c in fail.findall('testcase')],
                         ['b.one', 'b.two', 'fail_test'])

    def test_junit_single_host_names(self):
        self.write('ktap.txt', HOST_KTAP)
        path = os.path.join(self.tmp, 'junit.xml')
        self.main(('host', os.path.join(self.tmp, 'ktap.txt'), self.tmp, '-'), junit=path)
        names = [s.get('name') for s in ET.parse(path).getroot().findall('testsuite')]
        self.assertEqual(names[:4], ['pass_test', 'fail_test', 'hang_test',
                                     'libtest/guest_runtime_test'])

    def test_report(self):
        self.write('ktap.txt', HOST_KTAP)
        d = os.path.join(self.tmp, 'report')
        res, out = self.main(('host', os.path.join(self.tmp, 'ktap.txt'), self.tmp, '-'),
                             report=d)
        with open(os.path.join(d, 'report.md')) as f:
            md = f.read()
        self.assertIn('| result | 3 passed, 4 failed, 0 skipped |', md)
        self.assertIn('| KVM conformance | 2 passed, 3 failed, 0 skipped |', md)
        self.assertIn('| library self-tests | 1 passed, 1 failed, 0 skipped |', md)
        self.assertIn('| pass_test | PASS | 1/0/3 |  |', md)
        # The library's binaries in a table of their own, after the rest.
        self.assertLess(md.index('| hang_test |'), md.index('Library self-tests:'))
        self.assertLess(md.index('Library self-tests:'), md.index('| libtest/guest_runtime_test |'))
        with open(os.path.join(d, 'report.json')) as f:
            rep = json.load(f)
        self.assertEqual(rep['results'], res['summary'])
        self.assertEqual(rep['results_by_group'], res['groups'])
        self.assertEqual(rep['suite']['seed'], 42)
        for f in ('ktap-host.txt', 'results.json', 'report.md', 'report.json'):
            self.assertIn(f, rep['files'])
            self.assertTrue(os.path.exists(os.path.join(d, f)), f)
        self.assertIn('# report: %s' % os.path.join(d, 'report.md'), out)


if __name__ == '__main__':
    unittest.main()
