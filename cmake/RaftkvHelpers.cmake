# raftkv_add_test(NAME name SOURCES a.cc b.cc LIBS lib... [LABELS label...])
# A GoogleTest executable under build/test-bin, its tests registered with CTest.
# Tests labelled "core" also run in the sanitizer build.
function(raftkv_add_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main GTest::gmock)
  set_target_properties(${T_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/test-bin)
  gtest_discover_tests(${T_NAME} DISCOVERY_MODE PRE_TEST PROPERTIES LABELS "${T_LABELS}"
                       DISCOVERY_TIMEOUT 60)
endfunction()

# raftkv_add_tool(NAME name SOURCES ... LIBS ...): a user-facing binary in build/bin.
function(raftkv_add_tool)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS})
  set_target_properties(${T_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
endfunction()

# raftkv_find_grpc(): finds protobuf and gRPC once, at the top level, so that their imported
# targets are visible in every folder (the property RAFTKV_GRPCXX_TARGET names gRPC++).
macro(raftkv_find_grpc)
  get_property(_raftkv_grpcxx GLOBAL PROPERTY RAFTKV_GRPCXX_TARGET)
  if(NOT _raftkv_grpcxx)
    find_package(Protobuf REQUIRED)
    find_program(RAFTKV_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
    # Debian 12's gRPC CMake config is not always usable; pkg-config is the fallback.
    find_package(gRPC CONFIG QUIET)
    if(TARGET gRPC::grpc++)
      set(_raftkv_grpcxx gRPC::grpc++)
    else()
      find_package(PkgConfig REQUIRED)
      pkg_check_modules(RAFTKV_GRPCXX_PC REQUIRED IMPORTED_TARGET GLOBAL grpc++)
      set(_raftkv_grpcxx PkgConfig::RAFTKV_GRPCXX_PC)
    endif()
    set_property(GLOBAL PROPERTY RAFTKV_GRPCXX_TARGET ${_raftkv_grpcxx})
  endif()
endmacro()

# raftkv_add_proto_library(NAME lib PROTO_DIR dir PROTOS a/b c/d [DEPS lib...])
# Generates C++ (protobuf + gRPC) for <dir>/a/b.proto ... into the build tree and builds it as
# `lib`. Generated headers are included by their path under <dir>: "a/b.pb.h",
# "a/b.grpc.pb.h". DEPS are other proto libraries whose .proto files these import; their
# directories are added to protoc's search path.
function(raftkv_add_proto_library)
  cmake_parse_arguments(P "" "NAME;PROTO_DIR" "PROTOS;DEPS" ${ARGN})
  raftkv_find_grpc()
  get_property(grpcxx GLOBAL PROPERTY RAFTKV_GRPCXX_TARGET)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${out})
  set(search --proto_path=${P_PROTO_DIR})
  foreach(dep IN LISTS P_DEPS)
    get_target_property(dep_dir ${dep} RAFTKV_PROTO_DIR)
    list(APPEND search --proto_path=${dep_dir})
  endforeach()
  set(srcs)
  foreach(proto IN LISTS P_PROTOS)
    set(outs ${out}/${proto}.pb.cc ${out}/${proto}.pb.h
             ${out}/${proto}.grpc.pb.cc ${out}/${proto}.grpc.pb.h)
    add_custom_command(
      OUTPUT ${outs}
      COMMAND protobuf::protoc ${search} --cpp_out=${out} --grpc_out=${out}
        --plugin=protoc-gen-grpc=${RAFTKV_GRPC_CPP_PLUGIN} ${P_PROTO_DIR}/${proto}.proto
      DEPENDS ${P_PROTO_DIR}/${proto}.proto protobuf::protoc
      COMMENT "protoc ${proto}.proto"
      VERBATIM)
    list(APPEND srcs ${outs})
  endforeach()
  add_library(${P_NAME} ${srcs})
  target_include_directories(${P_NAME} SYSTEM PUBLIC ${out})
  target_link_libraries(${P_NAME} PUBLIC protobuf::libprotobuf ${grpcxx} ${P_DEPS})
  set_target_properties(${P_NAME} PROPERTIES RAFTKV_PROTO_DIR ${P_PROTO_DIR})
  # Generated sources trip our warning flags; they are not ours to fix.
  target_compile_options(${P_NAME} PRIVATE -w)
endfunction()

# raftkv_embed_files(OUT file.cc FUNC name NAMESPACE ns FILES a b ...): generates file.cc
# (add it to a target's sources) defining `std::string_view ns::name(std::string_view base)`,
# the contents of each file by its base name; regenerated when a file changes.
function(raftkv_embed_files)
  cmake_parse_arguments(E "" "OUT;FUNC;NAMESPACE" "FILES" ${ARGN})
  add_custom_command(
    OUTPUT ${E_OUT}
    COMMAND ${CMAKE_COMMAND} -DOUT=${E_OUT} -DFUNC=${E_FUNC} -DNAMESPACE=${E_NAMESPACE}
            "-DFILES=${E_FILES}" -P ${CMAKE_SOURCE_DIR}/cmake/embed.cmake
    DEPENDS ${E_FILES} ${CMAKE_SOURCE_DIR}/cmake/embed.cmake
    COMMENT "embedding ${E_FUNC} assets"
    VERBATIM)
endfunction()
