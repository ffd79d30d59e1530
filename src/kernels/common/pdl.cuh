// Programmatic dependent launch (PDL, sm_90+): lets a kernel that is launched right behind another one
// on the same stream start before that one has finished, so that its launch latency and prologue
// overlap the first kernel's tail.
//
// The pairing: the secondary kernel is launched with cudaLaunchKernelEx and the attribute
// cudaLaunchAttributeProgrammaticStreamSerialization = 1; it may begin once every CTA of the primary
// kernel has executed launch_dependents() (or exited), and grid_dependency_wait() in the secondary then
// blocks until the primary grid has completed and its memory writes are visible. Hence the rule for a
// secondary kernel: grid_dependency_wait() must come before its first read of anything the primary
// writes. launch_dependents() in the primary is only a hint of when to schedule the secondary; it does
// not make any of the primary's writes visible.
//
// Both are no-ops when the kernel was launched without the attribute, and compile to nothing for
// architectures below sm_90 (which have no griddepcontrol instruction).
#pragma once

namespace flashmla::kernels {

// Blocks until the grid this kernel depends on has completed and flushed its memory.
__device__ __forceinline__ void grid_dependency_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Signals that the dependent grid (launched with programmatic stream serialization) may be scheduled.
__device__ __forceinline__ void launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

}  // namespace flashmla::kernels
