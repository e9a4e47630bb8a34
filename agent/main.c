// SPDX-License-Identifier: MIT
/* Placeholder until the datapath lands; replaced by steerd's real main. */
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "steerd: not built yet\n");
	return 1;
}
