# Compiles every shaders/*.comp to SPIR-V with glslangValidator and embeds the words in one generated C file.
#
# A shader declares its variants on lines of the form
#   // variant: NAME -DDEFINE=VALUE ...
# Each variant becomes one embedded blob named NAME. A shader without such lines yields one blob named after the
# file. Shared code lives in shaders/*.glsl and is pulled in with #include (GL_GOOGLE_include_directive).
function(iopo_embed_shaders OUT_VAR SHADER_DIR)
  file(GLOB SHADERS CONFIGURE_DEPENDS ${SHADER_DIR}/*.comp)
  file(GLOB INCLUDES CONFIGURE_DEPENDS ${SHADER_DIR}/*.glsl)
  set(SPV_DIR ${CMAKE_CURRENT_BINARY_DIR}/spv)
  file(MAKE_DIRECTORY ${SPV_DIR})
  set(ALL_SPV "")
  set(ALL_NAMES "")
  foreach(SRC ${SHADERS})
    get_filename_component(BASE ${SRC} NAME_WE)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${SRC})
    file(STRINGS ${SRC} VARIANT_LINES REGEX "^// variant: ")
    if(NOT VARIANT_LINES)
      set(VARIANT_LINES "// variant: ${BASE}")
    endif()
    foreach(LINE ${VARIANT_LINES})
      string(REGEX REPLACE "^// variant: *" "" SPEC "${LINE}")
      separate_arguments(SPEC_LIST UNIX_COMMAND "${SPEC}")
      list(POP_FRONT SPEC_LIST VNAME)
      set(SPV ${SPV_DIR}/${VNAME}.spv)
      add_custom_command(
        OUTPUT ${SPV}
        COMMAND ${GLSLANG_VALIDATOR} --quiet -V --target-env vulkan1.1 -I${SHADER_DIR} ${SPEC_LIST} -o ${SPV} ${SRC}
        DEPENDS ${SRC} ${INCLUDES}
        COMMENT "SPIR-V ${VNAME}"
        VERBATIM)
      list(APPEND ALL_SPV ${SPV})
      list(APPEND ALL_NAMES ${VNAME})
    endforeach()
  endforeach()
  set(GEN ${CMAKE_CURRENT_BINARY_DIR}/shaders_embedded.c)
  add_custom_command(
    OUTPUT ${GEN}
    COMMAND ${CMAKE_COMMAND} -DOUT=${GEN} "-DNAMES=${ALL_NAMES}" -DSPV_DIR=${SPV_DIR}
            -P ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/EmbedSpirv.cmake
    DEPENDS ${ALL_SPV} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/EmbedSpirv.cmake
    COMMENT "Embedding SPIR-V"
    VERBATIM)
  set(${OUT_VAR} ${GEN} PARENT_SCOPE)
endfunction()
