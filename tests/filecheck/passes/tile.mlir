// RUN: %python -c "import numpy as np; np.save(r'%t.npy', np.random.default_rng(0).random((16, 6)).astype(np.float32))"
// RUN: anncc-opt %S/Inputs/mlp.mlir -p 'quantize{calib="%t.npy"},tile{rows=4 cols=16 bits-per-cell=1}' --weights-out %t.npz | filecheck %s
// RUN: anncc-opt %S/Inputs/mlp.mlir -p 'quantize{calib="%t.npy"},tile{rows=64 cols=64 bits-per-cell=1}' --weights-out %t.npz | filecheck %s --check-prefix=ONE

// A 4-row array holds 4 weight rows; 16 columns hold (16 - 1 reference) // (2 polarities x 3
// slices) = 2 weight columns. The 6x4 first layer needs 2 row tiles x 2 column ranges.

// CHECK-LABEL: func.func @forward
// CHECK:       %x_q = xbar.quantize %x {{.*}} -> tensor<?x6xui8>
// CHECK:       %[[W:.*]] = ann.weight "h.weight.q" digest {{.*}} : tensor<6x4xsi8>
// CHECK-NEXT:  %[[P0:.*]] = xbar.mvm %x_q, %[[W]] {tile = "h.r0c0", row_offset = 0 : i64, col_offset = 0 : i64, rows = 4 : i64, cols = 2 : i64
// CHECK-NEXT:  %[[P1:.*]] = xbar.mvm %x_q, %[[W]] {tile = "h.r1c0", row_offset = 4 : i64, col_offset = 0 : i64, rows = 2 : i64, cols = 2 : i64
// CHECK-NEXT:  %[[A0:.*]] = xbar.accumulate %[[P0]], %[[P1]]
// CHECK:       %[[A1:.*]] = xbar.accumulate
// CHECK-NEXT:  %[[C:.*]] = xbar.concat %[[A0]], %[[A1]] : {{.*}} -> tensor<?x4xsi32>
// The ReLU is fused into the clamp; the result stays an integer into the next layer.
// CHECK:       %h_q = xbar.requant %[[C]], {{.*}} {zero_point = 0 : i64, lo = 0 : i64, hi = 255 : i64
// CHECK-NOT:   ann.relu
// CHECK:       xbar.mvm %h_q,
// CHECK:       xbar.dequantize
// CHECK-NOT:   ann.linear

// ONE-COUNT-2: xbar.mvm
// ONE-NOT:     xbar.concat
