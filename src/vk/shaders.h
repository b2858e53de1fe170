/* The SPIR-V compiled from the .comp files in shaders/ at build time (generated file: shaders_embedded.c). */
#ifndef IOPO_VK_SHADERS_H
#define IOPO_VK_SHADERS_H

#include <stddef.h>
#include <stdint.h>

typedef struct iopo_spirv_blob {
    const char *name;          /* variant name from the shader's "// variant:" line, or the file's base name */
    const uint32_t *words;
    size_t nwords;
} iopo_spirv_blob;

extern const iopo_spirv_blob iopo_spirv_blobs[];
extern const int iopo_spirv_blob_count;

#endif
