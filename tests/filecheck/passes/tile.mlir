// RUN: %python -c "import numpy as np; np.save(r'%t.npy', np.random.default_rng(0).random((16, 6)).astype(np.float32))"
// RUN: anncc-opt %S/Inputs/mlp.mlir -p 'quantize{calib="%t.npy"},tile{rows=4 cols=16 bits-per-cell=1}' --weights-out %t.npz | filecheck %s
// RUN: anncc-opt %S/Inputs/mlp.mlir -p 'quantize{calib="%t.npy"},tile{rows=64 cols=64 bits-per-cell=1}' --weights-out %t.npz | filecheck %s --check-prefix=ONE

// A 4-row array holds 4 weight rows; 16 columns hold (16 - 1 reference) // (2 polarities x 3
// slices) = 2 weight columns. The 6x4 first layer needs 2 row tiles x 2 column ranges.
// Accumulator widths are the worst case of 8-bit unsigned inputs (255) times 4-bit weights (7),
// by hand: 4 rows reach 4·255·7 = 7140 < 2^13 (14 bits with the sign), 2 rows 3570 < 2^12
// (13 bits), the layer's 6 rows 10710 < 2^14 (15 bits).

// CHECK-LABEL: func.func @forward
// CHECK:       %x_q = xbar.quantize %x layer "h" {{.*}} -> tensor<?x6xui8>
// CHECK:       %[[W:.*]] = ann.weight "h.weight.q" digest {{.*}} : tensor<6x4xsi8>
// CHECK-NEXT:  %[[P0:.*]] = xbar.mvm %x_q, %[[W]] tile "h.r0c0" <4x2 at 0, 0> layer "h" w_bits 4 acc_bits 14 :
// CHECK-NEXT:  %[[P1:.*]] = xbar.mvm %x_q, %[[W]] tile "h.r1c0" <2x2 at 4, 0> layer "h" w_bits 4 acc_bits 13 :
// CHECK-NEXT:  %[[A0:.*]] = xbar.accumulate %[[P0]], %[[P1]] layer "h" acc_bits 15 :
// CHECK:       %[[A1:.*]] = xbar.accumulate
// CHECK-NEXT:  %[[C:.*]] = xbar.concat %[[A0]], %[[A1]] layer "h" : {{.*}} -> tensor<?x4xsi32>
// The ReLU is fused into the clamp; the result stays an integer into the next layer.
// CHECK:       %h_q = xbar.requant %[[C]], {{.*}} layer "h" acc_bits 15 product_bits {{[0-9]+}} {zero_point = 0 : i64, lo = 0 : i64, hi = 255 : i64
// CHECK-NOT:   ann.relu
// CHECK:       xbar.mvm %h_q,
// CHECK:       xbar.dequantize
// CHECK-NOT:   ann.linear

// ONE-COUNT-2: xbar.mvm
// ONE-NOT:     xbar.concat
