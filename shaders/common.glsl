// Shared by every compute shader. Conventions: set 0, storage buffers at bindings 0..n-1; push constants for shapes;
// specialization constant 0 is the workgroup size (layout(local_size_x_id = 0) in;).
#extension GL_EXT_control_flow_attributes : enable

// Linear workgroup index of a dispatch that vk_dispatch_1d() may have folded into x and y.
uint iopo_group_id() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }
