/* SPDX-License-Identifier: MIT */
/* vlun subcommands that live in their own files. */
#ifndef TOOLS_VLUN_H
#define TOOLS_VLUN_H

int vlun_cmd_bench(int argc, char **argv);

#endif
