# add_bpf_skeleton(NAME SOURCE file.bpf.c [HEADERS h...] [INCLUDES dir...])
#
# Compiles SOURCE for the BPF target with clang, turns the object into NAME.skel.h with
# `bpftool gen skeleton`, and defines the INTERFACE target NAME_skel that C++ targets link
# to get the skeleton's include directory. HEADERS are dependencies: editing one rebuilds.
find_program(BPF_CLANG NAMES clang-14 clang REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(BPF_TARGET_ARCH arm64)
else()
  message(FATAL_ERROR "initwatch: no BPF target arch for ${CMAKE_SYSTEM_PROCESSOR}")
endif()

function(add_bpf_skeleton NAME)
  cmake_parse_arguments(ARG "" "SOURCE" "HEADERS;INCLUDES" ${ARGN})
  if(NOT ARG_SOURCE)
    message(FATAL_ERROR "add_bpf_skeleton(${NAME}): SOURCE is required")
  endif()
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/bpf)
  set(obj ${out_dir}/${NAME}.bpf.o)
  set(skel ${out_dir}/${NAME}.skel.h)
  set(include_flags)
  foreach(dir IN LISTS ARG_INCLUDES)
    list(APPEND include_flags -I${dir})
  endforeach()
  # uapi headers (asm/types.h) live in the multiarch directory on Debian.
  list(APPEND include_flags -idirafter /usr/include/${CMAKE_LIBRARY_ARCHITECTURE})

  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${BPF_CLANG} -g -O2 -Wall -target bpf -D__TARGET_ARCH_${BPF_TARGET_ARCH}
            ${include_flags} -c ${ARG_SOURCE} -o ${obj}
    DEPENDS ${ARG_SOURCE} ${ARG_HEADERS}
    COMMENT "BPF ${NAME}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${NAME}_bpf > ${skel}
    DEPENDS ${obj}
    COMMENT "BPF skeleton ${NAME}.skel.h"
    VERBATIM)
  add_custom_target(${NAME}_skel_gen DEPENDS ${skel})
  add_library(${NAME}_skel INTERFACE)
  add_dependencies(${NAME}_skel ${NAME}_skel_gen)
  target_include_directories(${NAME}_skel INTERFACE ${out_dir})
endfunction()
