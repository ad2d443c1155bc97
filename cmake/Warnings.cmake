# Project-wide warning flags, applied per target with groupconv_set_warnings(target).
function(groupconv_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
    -Wno-sign-conversion -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 reports false -Wrestrict positives inside std::string concatenation at -O3
    # (GCC bug 105329); nothing in our code is affected by the warning.
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(GROUPCONV_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# Kernel sources are compiled per ISA; the file name says which:
#   *_avx512.cpp -> AVX-512 (F, BW, DQ, VL) + FMA,  *_avx2.cpp -> AVX2 + FMA,
#   anything else -> the baseline of the build (plain x86-64 by default).
# The library itself is never built with -march=native; the dispatcher picks a path at run time.
function(groupconv_set_isa_flags)
  foreach(src IN LISTS ARGN)
    if(src MATCHES "_avx512\\.cpp$")
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS
        "-mavx512f;-mavx512bw;-mavx512dq;-mavx512vl;-mavx2;-mfma;-mf16c;-mbmi2")
    elseif(src MATCHES "_avx2\\.cpp$")
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mbmi2")
    endif()
  endforeach()
endfunction()
