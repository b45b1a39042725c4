#ifndef FLEET_CZSTD_SHIM_H
#define FLEET_CZSTD_SHIM_H
#include <zstd.h>
#include <zdict.h>
#endif
