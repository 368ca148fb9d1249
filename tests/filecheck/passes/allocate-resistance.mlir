// RUN: %python -c "import numpy as np; np.save(r'%t.npy', np.random.default_rng(0).random((16, 6)).astype(np.float32))"
// RUN: anncc-opt %S/Inputs/mlp.mlir -p 'quantize{calib="%t.npy"},tile{rows=8 cols=16 bits-per-cell=1},allocate-resistance{rows=8 cols=16 adc-bits=2}' --weights-out %t.npz | filecheck %s

// Every tile becomes one physical 8x16 array of sot-mtj cells (1 bit per cell, 3 slices per
// 4-bit weight, 2 polarities): 2 weight columns use physical columns 0..11, column 12 is the
// reference, 13..15 and rows 6..7 are spares. The ADC shift follows each array's largest column
// count (the levels of the calibrated weights): in h.r0c0 no column holds more than 3 ones, which
// a 2-bit ADC reads exactly (shift 0); in h.r0c1 one column holds 4 ones, which needs 3 bits, so
// the 2-bit ADC reads it with an LSB of 2 counts (shift 1).

// CHECK-LABEL: func.func @forward
// CHECK:       %[[LV:.*]] = ann.weight "h.r0c0.levels" digest {{.*}} : tensor<8x16xui8>
// CHECK:       cell.mvm %x_q, %{{.*}}, %[[LV]], {{.*}} tile "h.r0c0" <6x2 at 0, 0> layer "h" w_bits 4 acc_bits 15 array <8x16, bits_per_cell = 1, slices = 3, ref_col = 12, spare_rows = 2, spare_cols = 3> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = {{.*}}, g_max = 0.0002> : (tensor<?x6xui8>,
// CHECK:       cell.mvm %x_q, {{.*}} tile "h.r0c1" <6x2 at 0, 2> layer "h" {{.*}} adc <bits = 2, shift = 1, dac_bits = 1>
// CHECK-NOT:   xbar.mvm
