// RUN: anncc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// One case per verifier message of the `ann` dialect. Each diagnostic names the
// file, line and column of the failing op (`:[[# @LINE + 1]]:1:` is the line
// below the CHECK), then the op and the problem.

// CHECK: :[[# @LINE + 1]]:1: ann.weight: weight 'fc.weight' must have a static shape
%w = ann.weight "fc.weight" digest "0123456789abcdef" : tensor<?x4xf32>

// -----

// CHECK: :[[# @LINE + 1]]:1: ann.weight: empty weight key
%w = ann.weight "" digest "0123456789abcdef" : tensor<4x4xf32>

// -----

// CHECK: :[[# @LINE + 1]]:1: ann.constant: 4097 elements inline exceed the limit of 4096; use ann.weight
%c = ann.constant dense<"0x0102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010201020102010203"> : tensor<4097xi8> : tensor<4097xi8>

// -----

// CHECK: :[[# @LINE + 1]]:1: ann.constant: value of type tensor<4xf32> does not match the result type tensor<8xf32>
%c = ann.constant dense<1.000000e+00> : tensor<4xf32> : tensor<8xf32>

// -----

%x, %w, %b = "test.op"() : () -> (tensor<?x4xf32>, tensor<2x4xf32>, tensor<2xf32>)
// CHECK: :[[# @LINE + 1]]:{{[0-9]+}}: #ann.quant: w_bits must be in [2, 8], got 9
%y = ann.linear %x, %w, %b {quant = #ann.quant<w_bits = 9, in_bits = 8, in_signed = 1, in_scale = 0.5, out_bits = 8, out_signed = 0, out_scale = 0.25, qweight = "q", qweight_digest = "0011223344556677", wscale = "s", wscale_digest = "8899aabbccddeeff">} : (tensor<?x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<?x2xf32>

// -----

%x, %w, %b = "test.op"() : () -> (tensor<?x4xf32>, tensor<2x4xf32>, tensor<2xf32>)
// CHECK: :[[# @LINE + 1]]:{{[0-9]+}}: #ann.quant: in_bits must be in [2, 16], got 1
%y = ann.linear %x, %w, %b {quant = #ann.quant<w_bits = 4, in_bits = 1, in_signed = 1, in_scale = 0.5, out_bits = 8, out_signed = 0, out_scale = 0.25, qweight = "q", qweight_digest = "0011223344556677", wscale = "s", wscale_digest = "8899aabbccddeeff">} : (tensor<?x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<?x2xf32>

// -----

%x, %w, %b = "test.op"() : () -> (tensor<?x4xf32>, tensor<2x4xf32>, tensor<2xf32>)
// CHECK: :[[# @LINE + 1]]:{{[0-9]+}}: #ann.quant: scales must be positive
%y = ann.linear %x, %w, %b {quant = #ann.quant<w_bits = 4, in_bits = 8, in_signed = 1, in_scale = 0.5, out_bits = 8, out_signed = 0, out_scale = 0.0, qweight = "q", qweight_digest = "0011223344556677", wscale = "s", wscale_digest = "8899aabbccddeeff">} : (tensor<?x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<?x2xf32>

// -----

%x, %w, %b = "test.op"() : () -> (tensor<?x4xf32>, tensor<2x4x1xf32>, tensor<2xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.linear: weight must be 2-D [out, in], got 2x4x1
%y = ann.linear %x, %w, %b : (tensor<?x4xf32>, tensor<2x4x1xf32>, tensor<2xf32>) -> tensor<?x2xf32>

// -----

%x, %w, %b = "test.op"() : () -> (tensor<?x4xf32>, tensor<2x4xf32>, tensor<3xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.linear: bias 3 does not match 2 output features
%y = ann.linear %x, %w, %b : (tensor<?x4xf32>, tensor<2x4xf32>, tensor<3xf32>) -> tensor<?x2xf32>

// -----

%x, %w, %b = "test.op"() : () -> (tensor<?x5xf32>, tensor<2x4xf32>, tensor<2xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.linear: input ?x5 has 5 features but the weight takes 4
%y = ann.linear %x, %w, %b : (tensor<?x5xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<?x2xf32>

// -----

%x, %w, %b = "test.op"() : () -> (tensor<?x4xf32>, tensor<2x4xf32>, tensor<2xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.linear: result ?x3 should be ?x2
%y = ann.linear %x, %w, %b : (tensor<?x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<?x3xf32>

// -----

%x, %w, %b = "test.op"() : () -> (tensor<?x3x8x8x8xf32>, tensor<4x3x3x3x3xf32>, tensor<4xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.conv: only 1-d and 2-d convolutions, weight is 4x3x3x3x3
%y = ann.conv %x, %w, %b {stride = array<i64: 1, 1, 1>, padding = array<i64: 0, 0, 0>, dilation = array<i64: 1, 1, 1>, groups = 1 : i64} : (tensor<?x3x8x8x8xf32>, tensor<4x3x3x3x3xf32>, tensor<4xf32>) -> tensor<?x4x6x6x6xf32>

// -----

%x, %w, %b = "test.op"() : () -> (tensor<?x3x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.conv: input ?x3x8 / result ?x4x6x6 rank does not fit a 2-d convolution
%y = ann.conv %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<?x3x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<?x4x6x6xf32>

// -----

%x, %w, %b = "test.op"() : () -> (tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.conv: stride, padding and dilation need one entry per spatial dimension
%y = ann.conv %x, %w, %b {stride = array<i64: 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<?x4x6x6xf32>

// -----

%x, %w, %b = "test.op"() : () -> (tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.conv: stride and dilation must be >= 1, padding >= 0
%y = ann.conv %x, %w, %b {stride = array<i64: 0, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<?x4x6x6xf32>

// -----

%x, %w, %b = "test.op"() : () -> (tensor<?x6x8x8xf32>, tensor<4x2x3x3xf32>, tensor<4xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.conv: 4 output channels not divisible by 3 groups
%y = ann.conv %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 3 : i64} : (tensor<?x6x8x8xf32>, tensor<4x2x3x3xf32>, tensor<4xf32>) -> tensor<?x4x6x6xf32>

// -----

%x, %w, %b = "test.op"() : () -> (tensor<?x6x8x8xf32>, tensor<4x2x3x3xf32>, tensor<4xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.conv: input has 6 channels, weight expects 2x2 groups
%y = ann.conv %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 2 : i64} : (tensor<?x6x8x8xf32>, tensor<4x2x3x3xf32>, tensor<4xf32>) -> tensor<?x4x6x6xf32>

// -----

%x, %w, %b = "test.op"() : () -> (tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<8xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.conv: bias 8 does not match 4 output channels
%y = ann.conv %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<8xf32>) -> tensor<?x4x6x6xf32>

// -----

%x, %w, %b = "test.op"() : () -> (tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.conv: result ?x4x8x8 should be ?x4x6x6
%y = ann.conv %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<?x4x8x8xf32>

// -----

%x = "test.op"() : () -> tensor<?x4xf32>
// CHECK: :[[# @LINE + 1]]:1: ann.relu: result tensor<?x5xf32> differs from input tensor<?x4xf32>
%y = ann.relu %x : tensor<?x4xf32> -> tensor<?x5xf32>

// -----

%x = "test.op"() : () -> tensor<?x4xf32>
// CHECK: :[[# @LINE + 1]]:1: ann.gelu: approximate must be 'none' or 'tanh', got 'fast'
%y = ann.gelu %x {approximate = "fast"} : tensor<?x4xf32> -> tensor<?x4xf32>

// -----

%a, %b = "test.op"() : () -> (tensor<?x4xf32>, tensor<?x3xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.add: shapes ?x4 and ?x3 do not broadcast
%y = ann.add %a, %b : (tensor<?x4xf32>, tensor<?x3xf32>) -> tensor<?x4xf32>

// -----

%a, %b = "test.op"() : () -> (tensor<?x4xf32>, tensor<4xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.mul: result ?x4x4 should be ?x4
%y = ann.mul %a, %b : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4x4xf32>

// -----

%x = "test.op"() : () -> tensor<?x4x8x8xf32>
// CHECK: :[[# @LINE + 1]]:1: ann.maxpool: kernel [2, 2, 2], stride [2, 2], padding [0, 0] do not fit input ?x4x8x8
%y = ann.maxpool %x {kernel = array<i64: 2, 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>, ceil_mode = 0 : i64} : tensor<?x4x8x8xf32> -> tensor<?x4x4x4xf32>

// -----

%x = "test.op"() : () -> tensor<?x4x8x8xf32>
// CHECK: :[[# @LINE + 1]]:1: ann.maxpool: kernel and stride must be >= 1 and padding at most half the kernel
%y = ann.maxpool %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 2, 2>, ceil_mode = 0 : i64} : tensor<?x4x8x8xf32> -> tensor<?x4x4x4xf32>

// -----

%x = "test.op"() : () -> tensor<?x4x8x8xf32>
// CHECK: :[[# @LINE + 1]]:1: ann.avgpool: result ?x4x3x3 should be ?x4x4x4
%y = ann.avgpool %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>, ceil_mode = 0 : i64, count_include_pad = 1 : i64} : tensor<?x4x8x8xf32> -> tensor<?x4x3x3xf32>

// -----

%x = "test.op"() : () -> tensor<?x4x8x8xf32>
// CHECK: :[[# @LINE + 1]]:1: ann.adaptive_avgpool: output size [1] does not fit input ?x4x8x8
%y = ann.adaptive_avgpool %x {output_size = array<i64: 1>} : tensor<?x4x8x8xf32> -> tensor<?x4x1xf32>

// -----

%x = "test.op"() : () -> tensor<?x4x8x8xf32>
// CHECK: :[[# @LINE + 1]]:1: ann.adaptive_avgpool: result ?x4x1x1 should be ?x4x2x2
%y = ann.adaptive_avgpool %x {output_size = array<i64: 2, 2>} : tensor<?x4x8x8xf32> -> tensor<?x4x1x1xf32>

// -----

%x = "test.op"() : () -> tensor<?x4x?xf32>
// CHECK: :[[# @LINE + 1]]:1: ann.reshape: only the batch dimension may be dynamic
%y = ann.reshape %x : tensor<?x4x?xf32> -> tensor<?x16xf32>

// -----

%x = "test.op"() : () -> tensor<?x4x4xf32>
// CHECK: :[[# @LINE + 1]]:1: ann.reshape: cannot reshape ?x4x4 into ?x15: element counts differ
%y = ann.reshape %x : tensor<?x4x4xf32> -> tensor<?x15xf32>

// -----

%x = "test.op"() : () -> tensor<?x2x3xf32>
// CHECK: :[[# @LINE + 1]]:1: ann.permute: [0, 2, 2] is not a permutation of 3 axes
%y = ann.permute %x {perm = array<i64: 0, 2, 2>} : tensor<?x2x3xf32> -> tensor<?x3x2xf32>

// -----

%x = "test.op"() : () -> tensor<?x2x3xf32>
// CHECK: :[[# @LINE + 1]]:1: ann.permute: result ?x2x3 should be ?x3x2
%y = ann.permute %x {perm = array<i64: 0, 2, 1>} : tensor<?x2x3xf32> -> tensor<?x2x3xf32>

// -----

%a, %b = "test.op"() : () -> (tensor<?x2xf32>, tensor<?x3xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.concat: axis 2 out of range
%y = ann.concat %a, %b {axis = 2 : i64} : (tensor<?x2xf32>, tensor<?x3xf32>) -> tensor<?x5xf32>

// -----

%a, %b = "test.op"() : () -> (tensor<?x2x4xf32>, tensor<?x3x5xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.concat: input ?x3x5 does not fit result ?x5x4 along axis 1
%y = ann.concat %a, %b {axis = 1 : i64} : (tensor<?x2x4xf32>, tensor<?x3x5xf32>) -> tensor<?x5x4xf32>

// -----

%a, %b = "test.op"() : () -> (tensor<?x2xf32>, tensor<?x3xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.concat: axis 1 sums to 5, not 6
%y = ann.concat %a, %b {axis = 1 : i64} : (tensor<?x2xf32>, tensor<?x3xf32>) -> tensor<?x6xf32>

// -----

%x = "test.op"() : () -> tensor<?x8xf32>
// CHECK: :[[# @LINE + 1]]:1: ann.slice: axis 2 out of range for ?x8
%y = ann.slice %x {axis = 2 : i64, start = 0 : i64, end = 4 : i64, step = 1 : i64} : tensor<?x8xf32> -> tensor<?x4xf32>

// -----

%x = "test.op"() : () -> tensor<?x8xf32>
// CHECK: :[[# @LINE + 1]]:1: ann.slice: need 0 <= start < end and step >= 1, got 4:2:1
%y = ann.slice %x {axis = 1 : i64, start = 4 : i64, end = 2 : i64, step = 1 : i64} : tensor<?x8xf32> -> tensor<?x2xf32>

// -----

%x = "test.op"() : () -> tensor<?x8xf32>
// CHECK: :[[# @LINE + 1]]:1: ann.slice: end 9 exceeds axis size 8
%y = ann.slice %x {axis = 1 : i64, start = 0 : i64, end = 9 : i64, step = 1 : i64} : tensor<?x8xf32> -> tensor<?x9xf32>

// -----

%x = "test.op"() : () -> tensor<?x8xf32>
// CHECK: :[[# @LINE + 1]]:1: ann.slice: result ?x2 should be ?x3
%y = ann.slice %x {axis = 1 : i64, start = 0 : i64, end = 8 : i64, step = 3 : i64} : tensor<?x8xf32> -> tensor<?x2xf32>

// -----

%x = "test.op"() : () -> tensor<?x4x8xf32>
// CHECK: :[[# @LINE + 1]]:1: ann.mean: axes [2, 2] must be distinct axes of ?x4x8
%y = ann.mean %x {axes = array<i64: 2, 2>, keepdim = 0 : i64} : tensor<?x4x8xf32> -> tensor<?x4xf32>

// -----

%x = "test.op"() : () -> tensor<?x4x8xf32>
// CHECK: :[[# @LINE + 1]]:1: ann.mean: result ?x4 should be ?x4x1
%y = ann.mean %x {axes = array<i64: 2>, keepdim = 1 : i64} : tensor<?x4x8xf32> -> tensor<?x4xf32>

// -----

%x, %m, %v, %g, %b = "test.op"() : () -> (tensor<?xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.batchnorm: input ? has no channel axis
%y = ann.batchnorm %x, %m, %v, %g, %b {eps = 1.000000e-05 : f64} : (tensor<?xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?xf32>

// -----

%x, %m, %v, %g, %b = "test.op"() : () -> (tensor<?x4x2x2xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.batchnorm: statistics tensor<3xf32> do not match 4 channels
%y = ann.batchnorm %x, %m, %v, %g, %b {eps = 1.000000e-05 : f64} : (tensor<?x4x2x2xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<?x4x2x2xf32>

// -----

%x, %m, %v, %g, %b = "test.op"() : () -> (tensor<?x4x2x2xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.batchnorm: eps must be positive
%y = ann.batchnorm %x, %m, %v, %g, %b {eps = 0.000000e+00 : f64} : (tensor<?x4x2x2xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4x2x2xf32>

// -----

%x, %w, %b = "test.op"() : () -> (tensor<?x2x4xf32>, tensor<3xf32>, tensor<3xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.layer_norm: normalized shape 3 does not match the trailing axes of ?x2x4
%y = ann.layer_norm %x, %w, %b {eps = 1.000000e-05 : f64} : (tensor<?x2x4xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<?x2x4xf32>

// -----

%x = "test.op"() : () -> tensor<?x4xf32>
// CHECK: :[[# @LINE + 1]]:1: ann.softmax: axis 2 out of range
%y = ann.softmax %x {axis = 2 : i64} : tensor<?x4xf32> -> tensor<?x4xf32>

// -----

%a, %b = "test.op"() : () -> (tensor<?x2x4xf32>, tensor<?x4x2xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.matmul: activation matmuls are digital
%y = ann.matmul %a, %b {mode = "analog"} : (tensor<?x2x4xf32>, tensor<?x4x2xf32>) -> tensor<?x2x2xf32>

// -----

%a, %b = "test.op"() : () -> (tensor<4xf32>, tensor<4x2xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.matmul: operands 4 and 4x2 must have rank >= 2
%y = ann.matmul %a, %b {mode = "digital"} : (tensor<4xf32>, tensor<4x2xf32>) -> tensor<2xf32>

// -----

%a, %b = "test.op"() : () -> (tensor<?x2x4xf32>, tensor<?x3x2xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.matmul: inner dimensions of ?x2x4 and ?x3x2 differ
%y = ann.matmul %a, %b {mode = "digital"} : (tensor<?x2x4xf32>, tensor<?x3x2xf32>) -> tensor<?x2x2xf32>

// -----

%a, %b = "test.op"() : () -> (tensor<2x2x4xf32>, tensor<3x4x2xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.matmul: batch dims of 2x2x4 and 3x4x2 do not broadcast
%y = ann.matmul %a, %b {mode = "digital"} : (tensor<2x2x4xf32>, tensor<3x4x2xf32>) -> tensor<2x2x2xf32>

// -----

%a, %b = "test.op"() : () -> (tensor<?x2x4xf32>, tensor<?x4x2xf32>)
// CHECK: :[[# @LINE + 1]]:1: ann.matmul: result ?x2x3 should be ?x2x2
%y = ann.matmul %a, %b {mode = "digital"} : (tensor<?x2x4xf32>, tensor<?x4x2xf32>) -> tensor<?x2x3xf32>
