// RUN: anncc-opt %s -p fold-batchnorm | filecheck %s

// fold-batchnorm rewrites batchnorm(layer(x, W, b)) into layer(x, W', b') with
// s = gamma / sqrt(var + eps), W' = W * s per output channel and
// b' = (b - mean) * s + beta. The numbers are chosen so that every folded value
// is exact: var + eps is 4 or 1, so s is 1/2 or 3. All inputs are inline
// constants, so the folded tensors are inline too and no weight store is needed.

// CHECK-LABEL: func.func @conv_bn
// CHECK-NEXT:    %w = ann.constant dense<{{\[\[\[\[}}5.000000e-01]]], {{\[\[\[}}6.000000e+00]]]]> : tensor<2x1x1x1xf32>
// CHECK-NEXT:    %b = ann.constant dense<[5.000000e-01, -6.000000e+00]> : tensor<2xf32>
// CHECK-NEXT:    %conv = ann.conv %x, %w, %b
// CHECK-NEXT:    %y = ann.relu %conv
// CHECK-NEXT:    func.return %y
// CHECK-NOT:     ann.batchnorm
func.func @conv_bn(%x: tensor<?x1x4x4xf32>) -> tensor<?x2x4x4xf32> {
  %w = ann.constant dense<[[[[1.0]]], [[[2.0]]]]> : tensor<2x1x1x1xf32> : tensor<2x1x1x1xf32>
  %b = ann.constant dense<[1.0, -1.0]> : tensor<2xf32> : tensor<2xf32>
  %mean = ann.constant dense<[0.5, 1.0]> : tensor<2xf32> : tensor<2xf32>
  %var = ann.constant dense<[3.75, 0.75]> : tensor<2xf32> : tensor<2xf32>
  %gamma = ann.constant dense<[1.0, 3.0]> : tensor<2xf32> : tensor<2xf32>
  %beta = ann.constant dense<[0.25, 0.0]> : tensor<2xf32> : tensor<2xf32>
  %conv = ann.conv %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<?x1x4x4xf32>, tensor<2x1x1x1xf32>, tensor<2xf32>) -> tensor<?x2x4x4xf32>
  %bn = ann.batchnorm %conv, %mean, %var, %gamma, %beta {eps = 2.500000e-01 : f64} : (tensor<?x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2x4x4xf32>
  %y = ann.relu %bn : tensor<?x2x4x4xf32> -> tensor<?x2x4x4xf32>
  func.return %y : tensor<?x2x4x4xf32>
}

// A linear layer on a 2-D activation: batch norm's axis 1 is its output features.
// W is [out, in], so each row is scaled: row 0 by 1/2, row 1 by 3.

// CHECK-LABEL: func.func @linear_bn
// CHECK-NEXT:    %w = ann.constant dense<{{\[\[}}5.000000e-01, 1.000000e+00], [3.000000e+00, -3.000000e+00]]> : tensor<2x2xf32>
// CHECK-NEXT:    %b = ann.constant dense<[-2.500000e-01, -3.000000e+00]> : tensor<2xf32>
// CHECK-NEXT:    %fc = ann.linear %x, %w, %b
// CHECK-NEXT:    func.return %fc
func.func @linear_bn(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %w = ann.constant dense<[[1.0, 2.0], [1.0, -1.0]]> : tensor<2x2xf32> : tensor<2x2xf32>
  %b = ann.constant dense<0.0> : tensor<2xf32> : tensor<2xf32>
  %mean = ann.constant dense<[0.5, 1.0]> : tensor<2xf32> : tensor<2xf32>
  %var = ann.constant dense<[3.75, 0.75]> : tensor<2xf32> : tensor<2xf32>
  %gamma = ann.constant dense<[1.0, 3.0]> : tensor<2xf32> : tensor<2xf32>
  %beta = ann.constant dense<0.0> : tensor<2xf32> : tensor<2xf32>
  %fc = ann.linear %x, %w, %b : (tensor<?x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %bn = ann.batchnorm %fc, %mean, %var, %gamma, %beta {eps = 2.500000e-01 : f64} : (tensor<?x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  func.return %bn : tensor<?x2xf32>
}

// The convolution's result has a second user (the residual add), so folding
// would change what that user sees: the batch norm stays, and the weights too.

// CHECK-LABEL: func.func @shared_conv
// CHECK:         %conv = ann.conv %x, %w, %b
// CHECK-NEXT:    %bn = ann.batchnorm %conv, %mean, %var, %gamma, %beta
// CHECK-NEXT:    %sum = ann.add %bn, %conv
func.func @shared_conv(%x: tensor<?x1x4x4xf32>) -> tensor<?x1x4x4xf32> {
  %w = ann.constant dense<2.0> : tensor<1x1x1x1xf32> : tensor<1x1x1x1xf32>
  %b = ann.constant dense<0.0> : tensor<1xf32> : tensor<1xf32>
  %mean = ann.constant dense<0.5> : tensor<1xf32> : tensor<1xf32>
  %var = ann.constant dense<3.75> : tensor<1xf32> : tensor<1xf32>
  %gamma = ann.constant dense<1.0> : tensor<1xf32> : tensor<1xf32>
  %beta = ann.constant dense<0.0> : tensor<1xf32> : tensor<1xf32>
  %conv = ann.conv %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<?x1x4x4xf32>, tensor<1x1x1x1xf32>, tensor<1xf32>) -> tensor<?x1x4x4xf32>
  %bn = ann.batchnorm %conv, %mean, %var, %gamma, %beta {eps = 2.500000e-01 : f64} : (tensor<?x1x4x4xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<?x1x4x4xf32>
  %sum = ann.add %bn, %conv : (tensor<?x1x4x4xf32>, tensor<?x1x4x4xf32>) -> tensor<?x1x4x4xf32>
  func.return %sum : tensor<?x1x4x4xf32>
}

// A batch norm after an activation, and one after a linear layer on a 3-D
// activation (its axis 1 is the sequence, not the features), do not fold.

// CHECK-LABEL: func.func @not_after_a_layer
// CHECK:         %r = ann.relu %x
// CHECK-NEXT:    %bn = ann.batchnorm %r
// CHECK:         %fc = ann.linear
// CHECK-NEXT:    %bn2 = ann.batchnorm %fc
func.func @not_after_a_layer(%x: tensor<?x2x2xf32>) -> tensor<?x2x2xf32> {
  %mean = ann.constant dense<0.5> : tensor<2xf32> : tensor<2xf32>
  %var = ann.constant dense<3.75> : tensor<2xf32> : tensor<2xf32>
  %gamma = ann.constant dense<1.0> : tensor<2xf32> : tensor<2xf32>
  %beta = ann.constant dense<0.0> : tensor<2xf32> : tensor<2xf32>
  %w = ann.constant dense<[[1.0, 2.0], [1.0, -1.0]]> : tensor<2x2xf32> : tensor<2x2xf32>
  %r = ann.relu %x : tensor<?x2x2xf32> -> tensor<?x2x2xf32>
  %bn = ann.batchnorm %r, %mean, %var, %gamma, %beta {eps = 2.500000e-01 : f64} : (tensor<?x2x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2x2xf32>
  %fc = ann.linear %bn, %w, %beta : (tensor<?x2x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<?x2x2xf32>
  %bn2 = ann.batchnorm %fc, %mean, %var, %gamma, %beta {eps = 2.500000e-01 : f64} : (tensor<?x2x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2x2xf32>
  func.return %bn2 : tensor<?x2x2xf32>
}
