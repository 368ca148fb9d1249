// RUN: anncc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// One case per verifier message of the `xbar` dialect (the integer contract,
// DESIGN.md section 4): float/integer crossings, im2col, tile bounds inside the
// weight, w_bits within [2, 8] and the weight's type, si32 partial sums, and a
// requantization clamp inside the result type's range. Each diagnostic names
// the file, line and column of the failing op.

%x = "test.op"() : () -> tensor<?x4xsi8>
// CHECK: :[[# @LINE + 1]]:1: xbar.quantize: input must be a float tensor
%q = xbar.quantize %x {scale = 5.000000e-01 : f64} : tensor<?x4xsi8> -> tensor<?x4xsi8>

// -----

%x = "test.op"() : () -> tensor<?x4xf32>
// CHECK: :[[# @LINE + 1]]:1: xbar.quantize: result must be an integer tensor, got tensor<?x4xf32>
%q = xbar.quantize %x {scale = 5.000000e-01 : f64} : tensor<?x4xf32> -> tensor<?x4xf32>

// -----

%x = "test.op"() : () -> tensor<?x4xf32>
// CHECK: :[[# @LINE + 1]]:1: xbar.quantize: activation bits must be in [2, 16], got 32
%q = xbar.quantize %x {scale = 5.000000e-01 : f64} : tensor<?x4xf32> -> tensor<?x4xsi32>

// -----

%x = "test.op"() : () -> tensor<?x4xf32>
// CHECK: :[[# @LINE + 1]]:1: xbar.quantize: scale must be positive
%q = xbar.quantize %x {scale = -5.000000e-01 : f64} : tensor<?x4xf32> -> tensor<?x4xsi8>

// -----

%x = "test.op"() : () -> tensor<?x4xf32>
// CHECK: :[[# @LINE + 1]]:1: xbar.quantize: result shape differs from input
%q = xbar.quantize %x {scale = 5.000000e-01 : f64} : tensor<?x4xf32> -> tensor<?x5xsi8>

// -----

%x = "test.op"() : () -> tensor<?x4xf32>
// CHECK: :[[# @LINE + 1]]:1: xbar.dequantize: input must be an integer tensor, got tensor<?x4xf32>
%f = xbar.dequantize %x {scale = 5.000000e-01 : f64} : tensor<?x4xf32> -> tensor<?x4xf32>

// -----

%x = "test.op"() : () -> tensor<?x4xui8>
// CHECK: :[[# @LINE + 1]]:1: xbar.dequantize: result must be a float tensor
%f = xbar.dequantize %x {scale = 5.000000e-01 : f64} : tensor<?x4xui8> -> tensor<?x4xui8>

// -----

%x = "test.op"() : () -> tensor<?x4xui8>
// CHECK: :[[# @LINE + 1]]:1: xbar.dequantize: scale must be positive
%f = xbar.dequantize %x {scale = 0.000000e+00 : f64} : tensor<?x4xui8> -> tensor<?x4xf32>

// -----

%x = "test.op"() : () -> tensor<?x4xui8>
// CHECK: :[[# @LINE + 1]]:1: xbar.dequantize: result shape differs from input
%f = xbar.dequantize %x {scale = 5.000000e-01 : f64} : tensor<?x4xui8> -> tensor<?x2x2xf32>

// -----

%x = "test.op"() : () -> tensor<?x3x8x8xf32>
// CHECK: :[[# @LINE + 1]]:1: xbar.unfold: input must be an integer tensor, got tensor<?x3x8x8xf32>
%u = xbar.unfold %x {kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>} : tensor<?x3x8x8xf32> -> tensor<?x36x27xf32>

// -----

%x = "test.op"() : () -> tensor<?x3x8x8xui8>
// CHECK: :[[# @LINE + 1]]:1: xbar.unfold: kernel [3, 3, 3] does not fit input ?x3x8x8
%u = xbar.unfold %x {kernel = array<i64: 3, 3, 3>, stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>} : tensor<?x3x8x8xui8> -> tensor<?x36x27xui8>

// -----

%x = "test.op"() : () -> tensor<?x3x8x8xui8>
// CHECK: :[[# @LINE + 1]]:1: xbar.unfold: kernel, stride and dilation must be >= 1, padding >= 0
%u = xbar.unfold %x {kernel = array<i64: 3, 3>, stride = array<i64: 0, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>} : tensor<?x3x8x8xui8> -> tensor<?x36x27xui8>

// -----

%x = "test.op"() : () -> tensor<?x?x8x8xui8>
// CHECK: :[[# @LINE + 1]]:1: xbar.unfold: only the batch dimension of ?x?x8x8 may be dynamic
%u = xbar.unfold %x {kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>} : tensor<?x?x8x8xui8> -> tensor<?x36x27xui8>

// -----

%x = "test.op"() : () -> tensor<?x3x2x2xui8>
// CHECK: :[[# @LINE + 1]]:1: xbar.unfold: kernel [3, 3] does not fit input ?x3x2x2
%u = xbar.unfold %x {kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>} : tensor<?x3x2x2xui8> -> tensor<?x1x27xui8>

// -----

%x = "test.op"() : () -> tensor<?x3x8x8xui8>
// CHECK: :[[# @LINE + 1]]:1: xbar.unfold: result ?x64x27 should be ?x36x27
%u = xbar.unfold %x {kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>} : tensor<?x3x8x8xui8> -> tensor<?x64x27xui8>

// -----

%x = "test.op"() : () -> tensor<?x3x8x8xui8>
// CHECK: :[[# @LINE + 1]]:1: xbar.unfold: unfold keeps the element type
%u = xbar.unfold %x {kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>} : tensor<?x3x8x8xui8> -> tensor<?x36x27xsi8>

// -----

%x, %w = "test.op"() : () -> (tensor<?x8xf32>, tensor<8x8xsi4>)
// CHECK: :[[# @LINE + 1]]:1: xbar.mvm: input must be an integer tensor, got tensor<?x8xf32>
%p = xbar.mvm %x, %w tile "t" <4x4 at 0, 0> layer "t" w_bits 4 acc_bits 12 : (tensor<?x8xf32>, tensor<8x8xsi4>) -> tensor<?x4xsi32>

// -----

%x, %w = "test.op"() : () -> (tensor<?x8xsi8>, tensor<8x8xf32>)
// CHECK: :[[# @LINE + 1]]:1: xbar.mvm: weight must be an integer tensor, got tensor<8x8xf32>
%p = xbar.mvm %x, %w tile "t" <4x4 at 0, 0> layer "t" w_bits 4 acc_bits 13 : (tensor<?x8xsi8>, tensor<8x8xf32>) -> tensor<?x4xsi32>

// -----

%x, %w = "test.op"() : () -> (tensor<?x8xsi8>, tensor<8x8xsi4>)
// CHECK: :[[# @LINE + 1]]:1: xbar.mvm: w_bits must be in [2, 8] and fit the weight type, got 9 in tensor<8x8xsi4>
%p = xbar.mvm %x, %w tile "t" <4x4 at 0, 0> layer "t" w_bits 9 acc_bits 18 : (tensor<?x8xsi8>, tensor<8x8xsi4>) -> tensor<?x4xsi32>

// -----

%x, %w = "test.op"() : () -> (tensor<?x8xsi8>, tensor<8x8xsi4>)
// CHECK: :[[# @LINE + 1]]:1: xbar.mvm: w_bits must be in [2, 8] and fit the weight type, got 8 in tensor<8x8xsi4>
%p = xbar.mvm %x, %w tile "t" <4x4 at 0, 0> layer "t" w_bits 8 acc_bits 17 : (tensor<?x8xsi8>, tensor<8x8xsi4>) -> tensor<?x4xsi32>

// -----

%x, %w = "test.op"() : () -> (tensor<?x8xsi8>, tensor<8x8x1xsi4>)
// CHECK: :[[# @LINE + 1]]:1: xbar.mvm: weight must be a [K, N] matrix, got 8x8x1
%p = xbar.mvm %x, %w tile "t" <4x4 at 0, 0> layer "t" w_bits 4 acc_bits 13 : (tensor<?x8xsi8>, tensor<8x8x1xsi4>) -> tensor<?x4xsi32>

// -----

%x, %w = "test.op"() : () -> (tensor<?x8xsi8>, tensor<?x8xsi4>)
// CHECK: :[[# @LINE + 1]]:1: xbar.mvm: weight ?x8 must have a static shape
%p = xbar.mvm %x, %w tile "t" <4x4 at 0, 0> layer "t" w_bits 4 acc_bits 13 : (tensor<?x8xsi8>, tensor<?x8xsi4>) -> tensor<?x4xsi32>

// -----

%x, %w = "test.op"() : () -> (tensor<si8>, tensor<8x8xsi4>)
// CHECK: :[[# @LINE + 1]]:1: xbar.mvm: input tensor<si8> must have a feature axis
%p = xbar.mvm %x, %w tile "t" <4x4 at 0, 0> layer "t" w_bits 4 acc_bits 14 : (tensor<si8>, tensor<8x8xsi4>) -> tensor<?x4xsi32>

// -----

%x, %w = "test.op"() : () -> (tensor<?x8xsi8>, tensor<8x8xsi4>)
// CHECK: :[[# @LINE + 1]]:1: xbar.mvm: tile 4x0 at (0, 0) must be non-empty with offsets >= 0
%p = xbar.mvm %x, %w tile "t" <4x0 at 0, 0> layer "t" w_bits 4 acc_bits 13 : (tensor<?x8xsi8>, tensor<8x8xsi4>) -> tensor<?x0xsi32>

// -----

%x, %w = "test.op"() : () -> (tensor<?x8xsi8>, tensor<8x8xsi4>)
// CHECK: :[[# @LINE + 1]]:1: xbar.mvm: tile rows [6, 10) x cols [0, 4) exceed the 8x8 weight
%p = xbar.mvm %x, %w tile "t" <4x4 at 6, 0> layer "t" w_bits 4 acc_bits 13 : (tensor<?x8xsi8>, tensor<8x8xsi4>) -> tensor<?x4xsi32>

// -----

%x, %w = "test.op"() : () -> (tensor<?x8xsi8>, tensor<8x8xsi4>)
// CHECK: :[[# @LINE + 1]]:1: xbar.mvm: tile rows [0, 4) x cols [6, 10) exceed the 8x8 weight
%p = xbar.mvm %x, %w tile "t" <4x4 at 0, 6> layer "t" w_bits 4 acc_bits 13 : (tensor<?x8xsi8>, tensor<8x8xsi4>) -> tensor<?x4xsi32>

// -----

%x, %w = "test.op"() : () -> (tensor<?x9xsi8>, tensor<8x8xsi4>)
// CHECK: :[[# @LINE + 1]]:1: xbar.mvm: input ?x9 does not have the weight's 8 rows
%p = xbar.mvm %x, %w tile "t" <4x4 at 0, 0> layer "t" w_bits 4 acc_bits 13 : (tensor<?x9xsi8>, tensor<8x8xsi4>) -> tensor<?x4xsi32>

// -----

%x, %w = "test.op"() : () -> (tensor<?x8xsi8>, tensor<8x8xsi4>)
// CHECK: :[[# @LINE + 1]]:1: xbar.mvm: partial sums are si32
%p = xbar.mvm %x, %w tile "t" <4x4 at 0, 0> layer "t" w_bits 4 acc_bits 13 : (tensor<?x8xsi8>, tensor<8x8xsi4>) -> tensor<?x4xsi16>

// -----

%x, %w = "test.op"() : () -> (tensor<?x8xsi8>, tensor<8x8xsi4>)
// CHECK: :[[# @LINE + 1]]:1: xbar.mvm: result ?x5 should be ?x4
%p = xbar.mvm %x, %w tile "t" <4x4 at 0, 0> layer "t" w_bits 4 acc_bits 13 : (tensor<?x8xsi8>, tensor<8x8xsi4>) -> tensor<?x5xsi32>

// -----

// CHECK: :[[# @LINE + 1]]:1: xbar.accumulate: needs at least one partial sum
%p = xbar.accumulate layer "t" acc_bits 8 : () -> tensor<?x4xsi32>

// -----

%a, %b = "test.op"() : () -> (tensor<?x4xsi32>, tensor<?x5xsi32>)
// CHECK: :[[# @LINE + 1]]:1: xbar.accumulate: partial sum tensor<?x5xsi32> does not match result tensor<?x4xsi32>
%s = xbar.accumulate %a, %b layer "t" acc_bits 31 : (tensor<?x4xsi32>, tensor<?x5xsi32>) -> tensor<?x4xsi32>

// -----

%a, %b = "test.op"() : () -> (tensor<?x4xsi32>, tensor<?x4xsi16>)
// CHECK: :[[# @LINE + 1]]:1: xbar.accumulate: partial sum tensor<?x4xsi16> does not match result tensor<?x4xsi32>
%s = xbar.accumulate %a, %b layer "t" acc_bits 31 : (tensor<?x4xsi32>, tensor<?x4xsi16>) -> tensor<?x4xsi32>

// -----

%a = "test.op"() : () -> tensor<si32>
// CHECK: :[[# @LINE + 1]]:1: xbar.concat: result tensor<si32> has no column axis
%y = xbar.concat %a, %a layer "t" : (tensor<si32>, tensor<si32>) -> tensor<si32>

// -----

%a, %b = "test.op"() : () -> (tensor<?x2x4xsi32>, tensor<?x3x4xsi32>)
// CHECK: :[[# @LINE + 1]]:1: xbar.concat: ?x3x4 does not fit ?x2x8
%y = xbar.concat %a, %b layer "t" : (tensor<?x2x4xsi32>, tensor<?x3x4xsi32>) -> tensor<?x2x8xsi32>

// -----

%a, %b = "test.op"() : () -> (tensor<?x4xsi32>, tensor<?x4xsi8>)
// CHECK: :[[# @LINE + 1]]:1: xbar.concat: input tensor<?x4xsi8> and result tensor<?x8xsi32> element types differ
%y = xbar.concat %a, %b layer "t" : (tensor<?x4xsi32>, tensor<?x4xsi8>) -> tensor<?x8xsi32>

// -----

%a, %b = "test.op"() : () -> (tensor<?x4xsi32>, tensor<?x4xsi32>)
// CHECK: :[[# @LINE + 1]]:1: xbar.concat: columns sum to 8, result has 9
%y = xbar.concat %a, %b layer "t" : (tensor<?x4xsi32>, tensor<?x4xsi32>) -> tensor<?x9xsi32>

// -----

%a, %b, %m, %s = "test.op"() : () -> (tensor<?x4xsi16>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>)
// CHECK: :[[# @LINE + 1]]:1: xbar.requant: input must be si32
%y = xbar.requant %a, %b, %m, %s layer "t" acc_bits 31 product_bits 62 {zero_point = 0 : i64, lo = 0 : i64, hi = 255 : i64, out_scale = 1.000000e+00 : f64} : (tensor<?x4xsi16>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>) -> tensor<?x4xui8>

// -----

%a, %b, %m, %s = "test.op"() : () -> (tensor<si32>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>)
// CHECK: :[[# @LINE + 1]]:1: xbar.requant: input tensor<si32> has no channel axis
%y = xbar.requant %a, %b, %m, %s layer "t" acc_bits 31 product_bits 62 {zero_point = 0 : i64, lo = 0 : i64, hi = 255 : i64, out_scale = 1.000000e+00 : f64} : (tensor<si32>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>) -> tensor<ui8>

// -----

%a, %b, %m, %s = "test.op"() : () -> (tensor<?x4xsi32>, tensor<5xsi32>, tensor<4xsi32>, tensor<4xsi32>)
// CHECK: :[[# @LINE + 1]]:1: xbar.requant: bias tensor<5xsi32> must have 4 channels
%y = xbar.requant %a, %b, %m, %s layer "t" acc_bits 31 product_bits 62 {zero_point = 0 : i64, lo = 0 : i64, hi = 255 : i64, out_scale = 1.000000e+00 : f64} : (tensor<?x4xsi32>, tensor<5xsi32>, tensor<4xsi32>, tensor<4xsi32>) -> tensor<?x4xui8>

// -----

%a, %b, %m, %s = "test.op"() : () -> (tensor<?x4xsi32>, tensor<4xsi16>, tensor<4xsi32>, tensor<4xsi32>)
// CHECK: :[[# @LINE + 1]]:1: xbar.requant: bias must be si32
%y = xbar.requant %a, %b, %m, %s layer "t" acc_bits 31 product_bits 62 {zero_point = 0 : i64, lo = 0 : i64, hi = 255 : i64, out_scale = 1.000000e+00 : f64} : (tensor<?x4xsi32>, tensor<4xsi16>, tensor<4xsi32>, tensor<4xsi32>) -> tensor<?x4xui8>

// -----

%a, %b, %m, %s = "test.op"() : () -> (tensor<?x4xsi32>, tensor<4xsi32>, tensor<2x2xsi32>, tensor<4xsi32>)
// CHECK: :[[# @LINE + 1]]:1: xbar.requant: multiplier tensor<2x2xsi32> must have 4 channels
%y = xbar.requant %a, %b, %m, %s layer "t" acc_bits 31 product_bits 62 {zero_point = 0 : i64, lo = 0 : i64, hi = 255 : i64, out_scale = 1.000000e+00 : f64} : (tensor<?x4xsi32>, tensor<4xsi32>, tensor<2x2xsi32>, tensor<4xsi32>) -> tensor<?x4xui8>

// -----

%a, %b, %m, %s = "test.op"() : () -> (tensor<?x4xsi32>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xui32>)
// CHECK: :[[# @LINE + 1]]:1: xbar.requant: shift must be si32
%y = xbar.requant %a, %b, %m, %s layer "t" acc_bits 31 product_bits 62 {zero_point = 0 : i64, lo = 0 : i64, hi = 255 : i64, out_scale = 1.000000e+00 : f64} : (tensor<?x4xsi32>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xui32>) -> tensor<?x4xui8>

// -----

%a, %b, %m, %s = "test.op"() : () -> (tensor<?x4xsi32>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>)
// CHECK: :[[# @LINE + 1]]:1: xbar.requant: result must be an integer tensor, got tensor<?x4xf32>
%y = xbar.requant %a, %b, %m, %s layer "t" acc_bits 31 product_bits 62 {zero_point = 0 : i64, lo = 0 : i64, hi = 255 : i64, out_scale = 1.000000e+00 : f64} : (tensor<?x4xsi32>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>) -> tensor<?x4xf32>

// -----

%a, %b, %m, %s = "test.op"() : () -> (tensor<?x4xsi32>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>)
// CHECK: :[[# @LINE + 1]]:1: xbar.requant: clamp [-1, 255] must lie within the ui8 range [0, 255]
%y = xbar.requant %a, %b, %m, %s layer "t" acc_bits 31 product_bits 62 {zero_point = 0 : i64, lo = -1 : i64, hi = 255 : i64, out_scale = 1.000000e+00 : f64} : (tensor<?x4xsi32>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>) -> tensor<?x4xui8>

// -----

%a, %b, %m, %s = "test.op"() : () -> (tensor<?x4xsi32>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>)
// CHECK: :[[# @LINE + 1]]:1: xbar.requant: clamp [0, 255] must lie within the si8 range [-128, 127]
%y = xbar.requant %a, %b, %m, %s layer "t" acc_bits 31 product_bits 62 {zero_point = 0 : i64, lo = 0 : i64, hi = 255 : i64, out_scale = 1.000000e+00 : f64} : (tensor<?x4xsi32>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>) -> tensor<?x4xsi8>

// -----

%a, %b, %m, %s = "test.op"() : () -> (tensor<?x4xsi32>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>)
// CHECK: :[[# @LINE + 1]]:1: xbar.requant: clamp [10, 5] is empty (lo > hi)
%y = xbar.requant %a, %b, %m, %s layer "t" acc_bits 31 product_bits 62 {zero_point = 0 : i64, lo = 10 : i64, hi = 5 : i64, out_scale = 1.000000e+00 : f64} : (tensor<?x4xsi32>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>) -> tensor<?x4xui8>

// -----

%a, %b, %m, %s = "test.op"() : () -> (tensor<?x4xsi32>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>)
// CHECK: :[[# @LINE + 1]]:1: xbar.requant: result ?x5 differs from input ?x4
%y = xbar.requant %a, %b, %m, %s layer "t" acc_bits 31 product_bits 62 {zero_point = 0 : i64, lo = 0 : i64, hi = 255 : i64, out_scale = 1.000000e+00 : f64} : (tensor<?x4xsi32>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>) -> tensor<?x5xui8>

// -----

%a, %b, %m, %s = "test.op"() : () -> (tensor<?x4xsi32>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>)
// CHECK: :[[# @LINE + 1]]:1: xbar.requant: out_scale must be positive
%y = xbar.requant %a, %b, %m, %s layer "t" acc_bits 31 product_bits 62 {zero_point = 0 : i64, lo = 0 : i64, hi = 255 : i64, out_scale = 0.000000e+00 : f64} : (tensor<?x4xsi32>, tensor<4xsi32>, tensor<4xsi32>, tensor<4xsi32>) -> tensor<?x4xui8>
