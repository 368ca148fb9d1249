// RUN: %python -c "import numpy as np; np.save(r'%t.npy', np.random.default_rng(0).random((16, 6)).astype(np.float32))"
// RUN: anncc-opt %S/Inputs/mlp.mlir -p 'quantize{calib="%t.npy"},tile{rows=8 cols=16 bits-per-cell=1},allocate-resistance{rows=8 cols=16},estimate' --weights-out %t.npz | filecheck %s

// estimate writes energy, latency and area per layer and per inference into the module.
// CHECK: builtin.module attributes {{{.*}}anncc.estimate = "{{.*}}per_inference{{.*}}arrays{{.*}}energy_adc_j{{.*}}
