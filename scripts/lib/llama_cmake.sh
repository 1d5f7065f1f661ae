# Sourced by the install scripts: the CMake flags llama-cpp-python is compiled with, unless the
# caller set CMAKE_ARGS. Portable x86-64 (AVX2/FMA/F16C, no AVX-512, no AMX) rather than pip's
# -march=native: the wheel is cached and reused on whatever CPU the next machine has, and AMX code
# faults in VMs that do not grant AMX (see install.d/10-llama-cpp.sh). Elsewhere: the default.
if [ -z "${CMAKE_ARGS:-}" ] && [ "$(uname -m)" = "x86_64" ]; then
  export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
fi
