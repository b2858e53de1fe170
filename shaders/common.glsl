// Shared by every compute shader. Conventions: set 0, storage buffers at bindings 0..n-1; push constants for shapes;
// specialization constant 0 is the workgroup size (layout(local_size_x_id = 0) in;).
#extension GL_EXT_control_flow_attributes : enable

// Linear workgroup index of a dispatch that vk_dispatch_1d() may have folded into x and y.
uint iopo_group_id() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }

// Tensors beyond one binding: split dispatches bind windows and push each binding's first element in its window (its
// shift), read through WIN(). A shader declares IOPO_WINDOWED(id) with a free constant_id; the recorders specialise it
// true only for split dispatches, so an unsplit pipeline folds every shift to 0 and indexes as if splitting did not
// exist (on lavapipe the shifts, read from push constants, cost the memory-bound kernels 4-15%: docs/PERFORMANCE.md).
#define IOPO_WINDOWED(id) layout(constant_id = id) const bool WINDOWED = false;
#define WIN(s) (WINDOWED ? (s) : 0u)
