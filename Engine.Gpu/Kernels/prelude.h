/* ConvEngine GPU dialect prelude: the kernels in this folder are written in a small C subset and compiled either as
   OpenCL C 1.2 (clBuildProgram) or as CUDA C (NVRTC). Everything dialect-specific goes through these macros.
   Rules for kernel sources: static SHARED arrays only, no generic address space, int indices, no warp intrinsics. */
#ifdef __OPENCL_VERSION__
  #ifdef cl_khr_fp64
    #pragma OPENCL EXTENSION cl_khr_fp64 : enable
    typedef double acc_t;           /* accumulator type of reductions */
  #else
    typedef float acc_t;
  #endif
  #define KERNEL __kernel
  #define FN static inline
  #define GLOBAL __global
  #define SHARED __local
  #define GLOBAL_ID0 ((int)get_global_id(0))
  #define GLOBAL_ID1 ((int)get_global_id(1))
  #define LOCAL_ID0 ((int)get_local_id(0))
  #define LOCAL_ID1 ((int)get_local_id(1))
  #define GROUP_ID0 ((int)get_group_id(0))
  #define GROUP_ID1 ((int)get_group_id(1))
  #define LOCAL_SIZE0 ((int)get_local_size(0))
  #define BARRIER() barrier(CLK_LOCAL_MEM_FENCE)
  typedef ulong u64;
  typedef long i64;
  #define U64C(x) x##UL
  #define NEG_INF (-INFINITY)
  #define EXPF(x) exp(x)
  #define LOGF(x) log(x)
  #define TANHF(x) tanh(x)
  #define SQRTF(x) sqrt(x)
  #define EXPD(x) exp(x)
  #define LOGD(x) log(x)
#else
  typedef double acc_t;
  #define KERNEL extern "C" __global__
  #define FN static __device__ inline
  #define GLOBAL
  #define SHARED __shared__
  #define GLOBAL_ID0 ((int)(blockIdx.x * blockDim.x + threadIdx.x))
  #define GLOBAL_ID1 ((int)(blockIdx.y * blockDim.y + threadIdx.y))
  #define LOCAL_ID0 ((int)threadIdx.x)
  #define LOCAL_ID1 ((int)threadIdx.y)
  #define GROUP_ID0 ((int)blockIdx.x)
  #define GROUP_ID1 ((int)blockIdx.y)
  #define LOCAL_SIZE0 ((int)blockDim.x)
  #define BARRIER() __syncthreads()
  typedef unsigned long long u64;
  typedef long long i64;
  #define U64C(x) x##ULL
  #define NEG_INF __int_as_float(0xff800000)
  #define EXPF(x) expf(x)
  #define LOGF(x) logf(x)
  #define TANHF(x) tanhf(x)
  #define SQRTF(x) sqrtf(x)
  #define EXPD(x) exp(x)
  #define LOGD(x) log(x)
#endif
/* Work-group size of the reduction kernels (one group per channel or per block of a tensor). */
#define RED 256
/* Tree reduction of SHARED acc_t s[RED] after every item has stored its partial; leaves the total in s[0]. */
#define REDUCE_SHARED(s, t) \
  for (int _w = RED / 2; _w > 0; _w >>= 1) { if ((t) < _w) (s)[t] += (s)[(t) + _w]; BARRIER(); }
