# Sourced on a CUDA machine that has PyTorch's CUDA 13 wheels but no CUDA toolkit libraries
# on the loader path: points the loader at the first folders holding cuBLAS, cuRAND and
# NVRTC. The kino binary built with `--features cuda` links these (docs/cuda.md).
for lib in libcublas.so.13 libcurand.so.10 libnvrtc.so.13 libcudart.so.13; do
  dir=$(find /opt /usr/local /usr/lib -name "$lib" -print -quit 2>/dev/null | xargs -r dirname)
  [ -n "$dir" ] && export LD_LIBRARY_PATH="$dir:${LD_LIBRARY_PATH:-}"
done
