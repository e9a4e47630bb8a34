// SPDX-License-Identifier: MIT
/* Placeholder until the datapath lands. */
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "steerctl: not built yet\n");
	return 1;
}
