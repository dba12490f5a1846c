# model/capi/merge_archives.cmake — appends the engine archive's members to libtinyllava.a (run after
# it is built), so a static link needs only -ltinyllava (and the system libraries pkg-config names).
#   cmake -DOUT=libtinyllava.a -DCORE=libtinyllava_core.a -DAR=ar -P merge_archives.cmake
get_filename_component(dir "${OUT}" DIRECTORY)
set(work "${dir}/tinyllava_merge")
file(REMOVE_RECURSE "${work}")
file(MAKE_DIRECTORY "${work}")
execute_process(COMMAND "${AR}" x "${CORE}" WORKING_DIRECTORY "${work}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ar x ${CORE} failed")
endif()
file(GLOB members "${work}/*.o")
execute_process(COMMAND "${AR}" rs "${OUT}" ${members} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ar rs ${OUT} failed")
endif()
file(REMOVE_RECURSE "${work}")
