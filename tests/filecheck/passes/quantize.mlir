// RUN: %python -c "import numpy as np; np.save(r'%t.npy', np.random.default_rng(0).random((16, 6)).astype(np.float32))"
// RUN: anncc-opt %S/Inputs/mlp.mlir -p 'quantize{w-bits=4 in-bits=8 bias-correct=true calib="%t.npy"}' --weights-out %t.npz | filecheck %s
// RUN: anncc-opt %S/Inputs/mlp.mlir -p 'quantize{w-bits=3 in-bits=6 calib="%t.npy"}' --weights-out %t.npz | filecheck %s --check-prefix=BITS

// quantize annotates each analog layer; integer weights and scales go into the store.
// The first layer's output type and scale are the second layer's input (it reaches it through
// a ReLU), so integers pass between them with no float step. Inputs in [0, 1) are unsigned.
// Bias correction gives each layer a corrected bias from the store and keeps the float one's key.

// CHECK-LABEL: func.func @forward
// CHECK:       %h_bias = ann.weight "h.bias.corrected"
// CHECK:       ann.linear %x, %w1, %h_bias {quant = #ann.quant<w_bits = 4, in_bits = 8, in_signed = 0, in_scale = {{[0-9.e-]+}}, out_bits = 8, out_signed = 0, out_scale = [[S:[0-9.e-]+]], qweight = "h.weight.q", qweight_digest = "{{[0-9a-f]+}}", wscale = "h.weight.wscale"
// CHECK:       ann.relu
// CHECK:       ann.linear %r, %w2, %y_bias {quant = #ann.quant<w_bits = 4, in_bits = 8, in_signed = 0, in_scale = [[S]], out_bits = 8, out_signed = 1,

// BITS: #ann.quant<w_bits = 3, in_bits = 6,
// BITS: #ann.quant<w_bits = 3, in_bits = 6,
