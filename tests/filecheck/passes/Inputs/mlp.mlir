func.func @forward(%x: tensor<?x6xf32>) -> tensor<?x3xf32> {
  %w1 = ann.constant dense<[[0.5, -0.25, 0.125, 0.0, 0.75, -1.0], [0.1, 0.2, -0.3, 0.4, -0.5, 0.6], [-0.7, 0.8, 0.9, -0.1, 0.2, 0.3], [0.25, 0.25, -0.25, -0.25, 0.5, 0.5]]> : tensor<4x6xf32> : tensor<4x6xf32>
  %b1 = ann.constant dense<[0.1, -0.1, 0.0, 0.2]> : tensor<4xf32> : tensor<4xf32>
  %h = ann.linear %x, %w1, %b1 : (tensor<?x6xf32>, tensor<4x6xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %r = ann.relu %h : tensor<?x4xf32> -> tensor<?x4xf32>
  %w2 = ann.constant dense<[[1.0, -0.5, 0.25, 0.0], [-0.125, 0.5, -1.0, 0.75], [0.3, 0.3, 0.3, -0.9]]> : tensor<3x4xf32> : tensor<3x4xf32>
  %b2 = ann.constant dense<[0.0, 0.05, -0.05]> : tensor<3xf32> : tensor<3xf32>
  %y = ann.linear %r, %w2, %b2 : (tensor<?x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  func.return %y : tensor<?x3xf32>
}
