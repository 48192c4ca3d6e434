// SPDX-License-Identifier: GPL-2.0
/*
 * e9_console: copies stdin to I/O port 0xe9, which Bochs (port_e9_hack)
 * prints on its own stdout. scripts/vm-init sends CMD's output this way
 * under Bochs: its emulated UART can miss the transmit interrupt after a
 * kernel console write, and the tty then stops for good, with CMD blocked
 * behind it. A port write needs no interrupt.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/io.h>
#include <unistd.h>

#define E9_PORT 0xe9

int main(void)
{
	unsigned char buf[4096];
	ssize_t n, i;

	if (ioperm(E9_PORT, 1, 1)) {
		perror("e9_console: ioperm(0xe9)");
		return 1;
	}
	while ((n = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 1;
		for (i = 0; i < n; i++)
			outb(buf[i], E9_PORT);
	}
	return 0;
}
