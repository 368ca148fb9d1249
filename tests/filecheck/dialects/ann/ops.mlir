// RUN: anncc-opt %s | anncc-opt | filecheck %s
// RUN: anncc-opt %s --print-op-generic | anncc-opt | filecheck %s
// RUN: anncc-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// Every `ann` op in its custom form: printing, parsing and printing again gives
// the same text, and so does a detour through the generic form. The batch
// dimension is dynamic (`?`) throughout; weights are store references
// (`ann.weight`), never inline; a layer's quantization is an `#ann.quant` attribute.

// Properties stay properties in the generic form (`<{...}>`), not attributes.
// GENERIC: %w = "ann.weight"() <{key = "fc1.weight", digest = "00112233445566aa"}> : () -> tensor<8x16xf32>
// GENERIC: "ann.linear"(%x, %w, %b) {quant = #ann.quant<w_bits = 4,
// GENERIC: "ann.conv"(%img, %w, %b) <{stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64}>

// CHECK-LABEL: func.func @mlp(%x: tensor<?x16xf32>) -> tensor<?x4xf32> {
func.func @mlp(%x: tensor<?x16xf32>) -> tensor<?x4xf32> {
// CHECK-NEXT:    %w = ann.weight "fc1.weight" digest "00112233445566aa" : tensor<8x16xf32>
  %w = ann.weight "fc1.weight" digest "00112233445566aa" : tensor<8x16xf32>
// CHECK-NEXT:    %b = ann.constant dense<0.000000e+00> : tensor<8xf32> : tensor<8xf32>
  %b = ann.constant dense<0.000000e+00> : tensor<8xf32> : tensor<8xf32>
// CHECK-NEXT:    %h = ann.linear %x, %w, %b {quant = #ann.quant<w_bits = 4, in_bits = 8, in_signed = 1, in_scale = 0.5, out_bits = 8, out_signed = 0, out_scale = 0.25, qweight = "fc1.qweight", qweight_digest = "0011223344556677", wscale = "fc1.wscale", wscale_digest = "8899aabbccddeeff">} : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %h = ann.linear %x, %w, %b {quant = #ann.quant<w_bits = 4, in_bits = 8, in_signed = 1, in_scale = 0.5, out_bits = 8, out_signed = 0, out_scale = 0.25, qweight = "fc1.qweight", qweight_digest = "0011223344556677", wscale = "fc1.wscale", wscale_digest = "8899aabbccddeeff">} : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT:    %r = ann.relu %h : tensor<?x8xf32> -> tensor<?x8xf32>
  %r = ann.relu %h : tensor<?x8xf32> -> tensor<?x8xf32>
// CHECK-NEXT:    %r6 = ann.relu6 %r : tensor<?x8xf32> -> tensor<?x8xf32>
  %r6 = ann.relu6 %r : tensor<?x8xf32> -> tensor<?x8xf32>
// CHECK-NEXT:    %s = ann.sigmoid %r6 : tensor<?x8xf32> -> tensor<?x8xf32>
  %s = ann.sigmoid %r6 : tensor<?x8xf32> -> tensor<?x8xf32>
// CHECK-NEXT:    %t = ann.tanh %s : tensor<?x8xf32> -> tensor<?x8xf32>
  %t = ann.tanh %s : tensor<?x8xf32> -> tensor<?x8xf32>
// CHECK-NEXT:    %hs = ann.hardswish %t : tensor<?x8xf32> -> tensor<?x8xf32>
  %hs = ann.hardswish %t : tensor<?x8xf32> -> tensor<?x8xf32>
// CHECK-NEXT:    %g = ann.gelu %hs {approximate = "tanh"} : tensor<?x8xf32> -> tensor<?x8xf32>
  %g = ann.gelu %hs {approximate = "tanh"} : tensor<?x8xf32> -> tensor<?x8xf32>
// CHECK-NEXT:    %l = ann.leaky_relu %g {negative_slope = 1.000000e-02 : f64} : tensor<?x8xf32> -> tensor<?x8xf32>
  %l = ann.leaky_relu %g {negative_slope = 1.000000e-02 : f64} : tensor<?x8xf32> -> tensor<?x8xf32>
// CHECK-NEXT:    %m = ann.mul_scalar %l {value = 2.500000e-01 : f64} : tensor<?x8xf32> -> tensor<?x8xf32>
  %m = ann.mul_scalar %l {value = 2.500000e-01 : f64} : tensor<?x8xf32> -> tensor<?x8xf32>
// CHECK-NEXT:    %a = ann.add_scalar %m {value = 1.000000e+00 : f64} : tensor<?x8xf32> -> tensor<?x8xf32>
  %a = ann.add_scalar %m {value = 1.000000e+00 : f64} : tensor<?x8xf32> -> tensor<?x8xf32>
// CHECK-NEXT:    %sum = ann.add %a, %h : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %sum = ann.add %a, %h : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT:    %c = ann.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00]> : tensor<8xf32> : tensor<8xf32>
  %c = ann.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00]> : tensor<8xf32> : tensor<8xf32>
// CHECK-NEXT:    %prod = ann.mul %sum, %c : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %prod = ann.mul %sum, %c : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT:    %sl = ann.slice %prod {axis = 1 : i64, start = 0 : i64, end = 8 : i64, step = 2 : i64} : tensor<?x8xf32> -> tensor<?x4xf32>
  %sl = ann.slice %prod {axis = 1 : i64, start = 0 : i64, end = 8 : i64, step = 2 : i64} : tensor<?x8xf32> -> tensor<?x4xf32>
// CHECK-NEXT:    %sm = ann.softmax %sl {axis = 1 : i64} : tensor<?x4xf32> -> tensor<?x4xf32>
  %sm = ann.softmax %sl {axis = 1 : i64} : tensor<?x4xf32> -> tensor<?x4xf32>
// CHECK-NEXT:    func.return %sm : tensor<?x4xf32>
  func.return %sm : tensor<?x4xf32>
// CHECK-NEXT:  }
}

// CHECK-LABEL: func.func @cnn(%img: tensor<?x3x8x8xf32>) -> tensor<?x2xf32> {
func.func @cnn(%img: tensor<?x3x8x8xf32>) -> tensor<?x2xf32> {
// CHECK-NEXT:    %w = ann.weight "conv1.weight" digest "0123456789abcdef" : tensor<4x3x3x3xf32>
  %w = ann.weight "conv1.weight" digest "0123456789abcdef" : tensor<4x3x3x3xf32>
// CHECK-NEXT:    %b = ann.weight "conv1.bias" digest "fedcba9876543210" : tensor<4xf32>
  %b = ann.weight "conv1.bias" digest "fedcba9876543210" : tensor<4xf32>
// CHECK-NEXT:    %y = ann.conv %img, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<?x4x8x8xf32>
  %y = ann.conv %img, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<?x4x8x8xf32>
// CHECK-NEXT:    %mean, %var, %gamma, %beta = "test.op"() : () -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
  %mean, %var, %gamma, %beta = "test.op"() : () -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
// CHECK-NEXT:    %bn = ann.batchnorm %y, %mean, %var, %gamma, %beta {eps = 1.000000e-05 : f64} : (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4x8x8xf32>
  %bn = ann.batchnorm %y, %mean, %var, %gamma, %beta {eps = 1.000000e-05 : f64} : (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4x8x8xf32>
// CHECK-NEXT:    %dw = ann.weight "dw.weight" digest "0123456789abcdef" : tensor<4x1x3x3xf32>
  %dw = ann.weight "dw.weight" digest "0123456789abcdef" : tensor<4x1x3x3xf32>
// CHECK-NEXT:    %dy = ann.conv %bn, %dw, %b {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 4 : i64} : (tensor<?x4x8x8xf32>, tensor<4x1x3x3xf32>, tensor<4xf32>) -> tensor<?x4x4x4xf32>
  %dy = ann.conv %bn, %dw, %b {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 4 : i64} : (tensor<?x4x8x8xf32>, tensor<4x1x3x3xf32>, tensor<4xf32>) -> tensor<?x4x4x4xf32>
// CHECK-NEXT:    %mp = ann.maxpool %dy {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>, ceil_mode = 0 : i64} : tensor<?x4x4x4xf32> -> tensor<?x4x2x2xf32>
  %mp = ann.maxpool %dy {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>, ceil_mode = 0 : i64} : tensor<?x4x4x4xf32> -> tensor<?x4x2x2xf32>
// CHECK-NEXT:    %ap = ann.avgpool %dy {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>, ceil_mode = 1 : i64, count_include_pad = 0 : i64} : tensor<?x4x4x4xf32> -> tensor<?x4x2x2xf32>
  %ap = ann.avgpool %dy {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>, ceil_mode = 1 : i64, count_include_pad = 0 : i64} : tensor<?x4x4x4xf32> -> tensor<?x4x2x2xf32>
// CHECK-NEXT:    %cat = ann.concat %mp, %ap {axis = 1 : i64} : (tensor<?x4x2x2xf32>, tensor<?x4x2x2xf32>) -> tensor<?x8x2x2xf32>
  %cat = ann.concat %mp, %ap {axis = 1 : i64} : (tensor<?x4x2x2xf32>, tensor<?x4x2x2xf32>) -> tensor<?x8x2x2xf32>
// CHECK-NEXT:    %gap = ann.adaptive_avgpool %cat {output_size = array<i64: 1, 1>} : tensor<?x8x2x2xf32> -> tensor<?x8x1x1xf32>
  %gap = ann.adaptive_avgpool %cat {output_size = array<i64: 1, 1>} : tensor<?x8x2x2xf32> -> tensor<?x8x1x1xf32>
// CHECK-NEXT:    %mn = ann.mean %cat {axes = array<i64: 2, 3>, keepdim = 0 : i64} : tensor<?x8x2x2xf32> -> tensor<?x8xf32>
  %mn = ann.mean %cat {axes = array<i64: 2, 3>, keepdim = 0 : i64} : tensor<?x8x2x2xf32> -> tensor<?x8xf32>
// CHECK-NEXT:    %fl = ann.reshape %gap : tensor<?x8x1x1xf32> -> tensor<?x8xf32>
  %fl = ann.reshape %gap : tensor<?x8x1x1xf32> -> tensor<?x8xf32>
// CHECK-NEXT:    %add = ann.add %fl, %mn : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %add = ann.add %fl, %mn : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT:    %seq = ann.reshape %add : tensor<?x8xf32> -> tensor<?x2x4xf32>
  %seq = ann.reshape %add : tensor<?x8xf32> -> tensor<?x2x4xf32>
// CHECK-NEXT:    %lw, %lb = "test.op"() : () -> (tensor<4xf32>, tensor<4xf32>)
  %lw, %lb = "test.op"() : () -> (tensor<4xf32>, tensor<4xf32>)
// CHECK-NEXT:    %ln = ann.layer_norm %seq, %lw, %lb {eps = 1.000000e-05 : f64} : (tensor<?x2x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x2x4xf32>
  %ln = ann.layer_norm %seq, %lw, %lb {eps = 1.000000e-05 : f64} : (tensor<?x2x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x2x4xf32>
// CHECK-NEXT:    %kt = ann.permute %ln {perm = array<i64: 0, 2, 1>} : tensor<?x2x4xf32> -> tensor<?x4x2xf32>
  %kt = ann.permute %ln {perm = array<i64: 0, 2, 1>} : tensor<?x2x4xf32> -> tensor<?x4x2xf32>
// CHECK-NEXT:    %qk = ann.matmul %ln, %kt {mode = "digital"} : (tensor<?x2x4xf32>, tensor<?x4x2xf32>) -> tensor<?x2x2xf32>
  %qk = ann.matmul %ln, %kt {mode = "digital"} : (tensor<?x2x4xf32>, tensor<?x4x2xf32>) -> tensor<?x2x2xf32>
// CHECK-NEXT:    %out = ann.mean %qk {axes = array<i64: 2>, keepdim = 0 : i64} : tensor<?x2x2xf32> -> tensor<?x2xf32>
  %out = ann.mean %qk {axes = array<i64: 2>, keepdim = 0 : i64} : tensor<?x2x2xf32> -> tensor<?x2xf32>
// CHECK-NEXT:    func.return %out : tensor<?x2xf32>
  func.return %out : tensor<?x2xf32>
// CHECK-NEXT:  }
}
