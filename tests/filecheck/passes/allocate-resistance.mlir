// RUN: %python -c "import numpy as np; np.save(r'%t.npy', np.random.default_rng(0).random((16, 6)).astype(np.float32))"
// RUN: anncc-opt %S/Inputs/mlp.mlir -p 'quantize{calib="%t.npy"},tile{rows=8 cols=16 bits-per-cell=1},allocate-resistance{rows=8 cols=16 adc-bits=2}' --weights-out %t.npz | filecheck %s

// Every tile becomes one physical 8x16 array of sot-mtj cells (1 bit per cell, 3 slices per
// 4-bit weight, 2 polarities): 2 weight columns use physical columns 0..11, column 12 is the
// reference, 13..15 and rows 6..7 are spares. A column of 6 binary cells counts up to 6,
// which needs 3 bits: a 2-bit ADC reads it with a shift of 1.

// CHECK-LABEL: func.func @forward
// CHECK:       %[[LV:.*]] = ann.weight "h.r0c0.levels" digest {{.*}} : tensor<8x16xui8>
// CHECK:       cell.mvm %x_q, %{{.*}}, %[[LV]], {{.*}} {tile = "h.r0c0", row_offset = 0 : i64, col_offset = 0 : i64, rows = 6 : i64, cols = 2 : i64, w_bits = 4 : i64, array_rows = 8 : i64, array_cols = 16 : i64, bits_per_cell = 1 : i64, n_slices = 3 : i64, in_bits = 8 : i64, in_signed = 0 : i64, dac_bits = 1 : i64, adc_bits = 2 : i64, adc_shift = {{[01]}} : i64, ref_col = 12 : i64, spare_rows = 2 : i64, spare_cols = 3 : i64, v_read_v = {{.*}}, g_min_s = {{.*}}, g_max_s = {{.*}}}
// CHECK-NOT:   xbar.mvm
