// RUN: anncc-opt %s | anncc-opt | filecheck %s
// RUN: anncc-opt %s --print-op-generic | anncc-opt | filecheck %s
// RUN: anncc-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// Every `xbar` op in its custom form, on a realistic tiled layer: a 200x100
// linear layer on 128x64 arrays is 2 row tiles x 2 column ranges (the last one
// 36 columns wide), accumulated per column range and concatenated, then
// requantized (bias, fixed-point multiplier and shift, ReLU clamp [0, 255]);
// and a convolution as im2col (`xbar.unfold`) feeding one tile. Values between
// layers are integers carrying their signedness (`si8`, `ui8`); partial sums
// are `si32`.

// GENERIC: "xbar.mvm"(%q, %w) <{tile = "fc1.r0c0", geometry = #xbar.tile<128x64 at 0, 0>, layer = "fc1", w_bits = 4 : i64, acc_bits = 18 : i64}>
// GENERIC: "xbar.requant"(%acc, %bias, %mult, %shift) <{layer = "fc1", acc_bits = 31 : i64, product_bits = 62 : i64, zero_point = 0 : i64, lo = 0 : i64, hi = 255 : i64, out_scale = 6.250000e-02 : f64}>

// CHECK-LABEL: func.func @fc(%x: tensor<?x200xf32>) -> tensor<?x100xf32> {
func.func @fc(%x: tensor<?x200xf32>) -> tensor<?x100xf32> {
// CHECK-NEXT:    %q = xbar.quantize %x {scale = 3.125000e-02 : f64} : tensor<?x200xf32> -> tensor<?x200xsi8>
  %q = xbar.quantize %x {scale = 3.125000e-02 : f64} : tensor<?x200xf32> -> tensor<?x200xsi8>
// CHECK-NEXT:    %w = ann.weight "fc1.qweight" digest "0123456789abcdef" : tensor<200x100xsi4>
  %w = ann.weight "fc1.qweight" digest "0123456789abcdef" : tensor<200x100xsi4>
// CHECK-NEXT:    %p00 = xbar.mvm %q, %w tile "fc1.r0c0" <128x64 at 0, 0> layer "fc1" w_bits 4 acc_bits 18 : (tensor<?x200xsi8>, tensor<200x100xsi4>) -> tensor<?x64xsi32>
  %p00 = xbar.mvm %q, %w tile "fc1.r0c0" <128x64 at 0, 0> layer "fc1" w_bits 4 acc_bits 18 : (tensor<?x200xsi8>, tensor<200x100xsi4>) -> tensor<?x64xsi32>
// CHECK-NEXT:    %p10 = xbar.mvm %q, %w tile "fc1.r1c0" <72x64 at 128, 0> layer "fc1" w_bits 4 acc_bits 17 : (tensor<?x200xsi8>, tensor<200x100xsi4>) -> tensor<?x64xsi32>
  %p10 = xbar.mvm %q, %w tile "fc1.r1c0" <72x64 at 128, 0> layer "fc1" w_bits 4 acc_bits 17 : (tensor<?x200xsi8>, tensor<200x100xsi4>) -> tensor<?x64xsi32>
// CHECK-NEXT:    %a0 = xbar.accumulate %p00, %p10 layer "fc1" acc_bits 31 : (tensor<?x64xsi32>, tensor<?x64xsi32>) -> tensor<?x64xsi32>
  %a0 = xbar.accumulate %p00, %p10 layer "fc1" acc_bits 31 : (tensor<?x64xsi32>, tensor<?x64xsi32>) -> tensor<?x64xsi32>
// CHECK-NEXT:    %p01 = xbar.mvm %q, %w tile "fc1.r0c1" <128x36 at 0, 64> layer "fc1" w_bits 4 acc_bits 18 : (tensor<?x200xsi8>, tensor<200x100xsi4>) -> tensor<?x36xsi32>
  %p01 = xbar.mvm %q, %w tile "fc1.r0c1" <128x36 at 0, 64> layer "fc1" w_bits 4 acc_bits 18 : (tensor<?x200xsi8>, tensor<200x100xsi4>) -> tensor<?x36xsi32>
// CHECK-NEXT:    %p11 = xbar.mvm %q, %w tile "fc1.r1c1" <72x36 at 128, 64> layer "fc1" w_bits 4 acc_bits 17 : (tensor<?x200xsi8>, tensor<200x100xsi4>) -> tensor<?x36xsi32>
  %p11 = xbar.mvm %q, %w tile "fc1.r1c1" <72x36 at 128, 64> layer "fc1" w_bits 4 acc_bits 17 : (tensor<?x200xsi8>, tensor<200x100xsi4>) -> tensor<?x36xsi32>
// CHECK-NEXT:    %a1 = xbar.accumulate %p01, %p11 layer "fc1" acc_bits 31 : (tensor<?x36xsi32>, tensor<?x36xsi32>) -> tensor<?x36xsi32>
  %a1 = xbar.accumulate %p01, %p11 layer "fc1" acc_bits 31 : (tensor<?x36xsi32>, tensor<?x36xsi32>) -> tensor<?x36xsi32>
// CHECK-NEXT:    %acc = xbar.concat %a0, %a1 layer "fc1" : (tensor<?x64xsi32>, tensor<?x36xsi32>) -> tensor<?x100xsi32>
  %acc = xbar.concat %a0, %a1 layer "fc1" : (tensor<?x64xsi32>, tensor<?x36xsi32>) -> tensor<?x100xsi32>
// CHECK-NEXT:    %bias = ann.weight "fc1.bias_q" digest "1111111111111111" : tensor<100xsi32>
  %bias = ann.weight "fc1.bias_q" digest "1111111111111111" : tensor<100xsi32>
// CHECK-NEXT:    %mult = ann.weight "fc1.multiplier" digest "2222222222222222" : tensor<100xsi32>
  %mult = ann.weight "fc1.multiplier" digest "2222222222222222" : tensor<100xsi32>
// CHECK-NEXT:    %shift = ann.constant dense<16> : tensor<100xsi32> : tensor<100xsi32>
  %shift = ann.constant dense<16> : tensor<100xsi32> : tensor<100xsi32>
// CHECK-NEXT:    %y = xbar.requant %acc, %bias, %mult, %shift layer "fc1" acc_bits 31 product_bits 62 {zero_point = 0 : i64, lo = 0 : i64, hi = 255 : i64, out_scale = 6.250000e-02 : f64} : (tensor<?x100xsi32>, tensor<100xsi32>, tensor<100xsi32>, tensor<100xsi32>) -> tensor<?x100xui8>
  %y = xbar.requant %acc, %bias, %mult, %shift layer "fc1" acc_bits 31 product_bits 62 {zero_point = 0 : i64, lo = 0 : i64, hi = 255 : i64, out_scale = 6.250000e-02 : f64} : (tensor<?x100xsi32>, tensor<100xsi32>, tensor<100xsi32>, tensor<100xsi32>) -> tensor<?x100xui8>
// CHECK-NEXT:    %f = xbar.dequantize %y {scale = 6.250000e-02 : f64} : tensor<?x100xui8> -> tensor<?x100xf32>
  %f = xbar.dequantize %y {scale = 6.250000e-02 : f64} : tensor<?x100xui8> -> tensor<?x100xf32>
// CHECK-NEXT:    func.return %f : tensor<?x100xf32>
  func.return %f : tensor<?x100xf32>
// CHECK-NEXT:  }
}
// CHECK-LABEL: func.func @conv(%img: tensor<?x3x8x8xui8>) -> tensor<?x36x4xsi8> {
func.func @conv(%img: tensor<?x3x8x8xui8>) -> tensor<?x36x4xsi8> {
// CHECK-NEXT:    %cols = xbar.unfold %img {kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>} : tensor<?x3x8x8xui8> -> tensor<?x36x27xui8>
  %cols = xbar.unfold %img {kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>} : tensor<?x3x8x8xui8> -> tensor<?x36x27xui8>
// CHECK-NEXT:    %w = ann.weight "conv1.qweight" digest "3333333333333333" : tensor<27x4xsi8>
  %w = ann.weight "conv1.qweight" digest "3333333333333333" : tensor<27x4xsi8>
// CHECK-NEXT:    %p = xbar.mvm %cols, %w tile "conv1.r0c0" <27x4 at 0, 0> layer "conv1" w_bits 8 acc_bits 21 : (tensor<?x36x27xui8>, tensor<27x4xsi8>) -> tensor<?x36x4xsi32>
  %p = xbar.mvm %cols, %w tile "conv1.r0c0" <27x4 at 0, 0> layer "conv1" w_bits 8 acc_bits 21 : (tensor<?x36x27xui8>, tensor<27x4xsi8>) -> tensor<?x36x4xsi32>
// CHECK-NEXT:    %a = xbar.accumulate %p layer "conv1" acc_bits 31 : (tensor<?x36x4xsi32>) -> tensor<?x36x4xsi32>
  %a = xbar.accumulate %p layer "conv1" acc_bits 31 : (tensor<?x36x4xsi32>) -> tensor<?x36x4xsi32>
// CHECK-NEXT:    %b, %m, %s = "test.op"() : () -> (tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>)
  %b, %m, %s = "test.op"() : () -> (tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>)
// CHECK-NEXT:    %y = xbar.requant %a, %b, %m, %s layer "conv1" acc_bits 31 product_bits 62 {zero_point = 0 : i64, lo = -128 : i64, hi = 127 : i64, out_scale = 1.250000e-01 : f64} : (tensor<?x36x4xsi32>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>) -> tensor<?x36x4xsi8>
  %y = xbar.requant %a, %b, %m, %s layer "conv1" acc_bits 31 product_bits 62 {zero_point = 0 : i64, lo = -128 : i64, hi = 127 : i64, out_scale = 1.250000e-01 : f64} : (tensor<?x36x4xsi32>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>) -> tensor<?x36x4xsi8>
// CHECK-NEXT:    func.return %y : tensor<?x36x4xsi8>
  func.return %y : tensor<?x36x4xsi8>
// CHECK-NEXT:  }
}
