// RUN: anncc-opt %s | anncc-opt | filecheck %s
// RUN: anncc-opt %s --print-op-generic | anncc-opt | filecheck %s
// RUN: anncc-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// Every `cell` op in its custom form, on DESIGN.md's worked example: 5 inputs
// of 4 bits (unsigned), a 5x2 weight of 4 bits on binary cells (3 one-bit
// magnitude slices x 2 polarities per logical column, plus the reference column:
// 13 physical columns), arrays of 3 rows (two row tiles). The second row tile
// has a fault map and a triplicated replica (with 2 spare columns and a 1-bit
// ADC of LSB 2) voted by median. Level, column, row and fault maps are store
// references; a fault-free array uses an all-zero splat.

// GENERIC: "cell.mvm"(%x, %w, %lv0, %cm0, %rm0, %ok0) <{tile = "fc.r0c0", geometry = #xbar.tile<3x2 at 0, 0>, layer = "fc", w_bits = 4 : i64, acc_bits = 10 : i64, array = #cell.array<3x13, bits_per_cell = 1, slices = 3, ref_col = 12, spare_rows = 0, spare_cols = 0>, adc = #cell.adc<bits = 2, shift = 0, dac_bits = 1>, analog = #cell.analog<v_read = 0.1, g_min = 0.0001, g_max = 0.0002>}>
// GENERIC: "cell.vote"(%p1, %p1b, %p1) <{layer = "fc"}> : (tensor<?x2xsi32>, tensor<?x2xsi32>, tensor<?x2xsi32>) -> tensor<?x2xsi32>

// CHECK-LABEL: func.func @design_example(%x: tensor<?x5xui4>) -> tensor<?x2xui8> {
func.func @design_example(%x: tensor<?x5xui4>) -> tensor<?x2xui8> {
// CHECK-NEXT:    %w = ann.weight "fc.qweight" digest "0123456789abcdef" : tensor<5x2xsi4>
  %w = ann.weight "fc.qweight" digest "0123456789abcdef" : tensor<5x2xsi4>
// CHECK-NEXT:    %lv0 = ann.weight "fc.r0c0.levels" digest "1111111111111111" : tensor<3x13xui8>
  %lv0 = ann.weight "fc.r0c0.levels" digest "1111111111111111" : tensor<3x13xui8>
// CHECK-NEXT:    %cm0 = ann.weight "fc.r0c0.colmap" digest "2222222222222222" : tensor<2x3x2xsi32>
  %cm0 = ann.weight "fc.r0c0.colmap" digest "2222222222222222" : tensor<2x3x2xsi32>
// CHECK-NEXT:    %rm0 = ann.weight "fc.r0c0.rowmap" digest "3333333333333333" : tensor<3xsi32>
  %rm0 = ann.weight "fc.r0c0.rowmap" digest "3333333333333333" : tensor<3xsi32>
// CHECK-NEXT:    %ok0 = ann.constant dense<0> : tensor<3x13xui8> : tensor<3x13xui8>
  %ok0 = ann.constant dense<0> : tensor<3x13xui8> : tensor<3x13xui8>
// CHECK-NEXT:    %p0 = cell.mvm %x, %w, %lv0, %cm0, %rm0, %ok0 tile "fc.r0c0" <3x2 at 0, 0> layer "fc" w_bits 4 acc_bits 10 array <3x13, bits_per_cell = 1, slices = 3, ref_col = 12, spare_rows = 0, spare_cols = 0> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x5xui4>, tensor<5x2xsi4>, tensor<3x13xui8>, tensor<2x3x2xsi32>, tensor<3xsi32>, tensor<3x13xui8>) -> tensor<?x2xsi32>
  %p0 = cell.mvm %x, %w, %lv0, %cm0, %rm0, %ok0 tile "fc.r0c0" <3x2 at 0, 0> layer "fc" w_bits 4 acc_bits 10 array <3x13, bits_per_cell = 1, slices = 3, ref_col = 12, spare_rows = 0, spare_cols = 0> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x5xui4>, tensor<5x2xsi4>, tensor<3x13xui8>, tensor<2x3x2xsi32>, tensor<3xsi32>, tensor<3x13xui8>) -> tensor<?x2xsi32>
// CHECK-NEXT:    %lv1 = ann.weight "fc.r1c0.levels" digest "4444444444444444" : tensor<3x13xui8>
  %lv1 = ann.weight "fc.r1c0.levels" digest "4444444444444444" : tensor<3x13xui8>
// CHECK-NEXT:    %cm1 = ann.weight "fc.r1c0.colmap" digest "5555555555555555" : tensor<2x3x2xsi32>
  %cm1 = ann.weight "fc.r1c0.colmap" digest "5555555555555555" : tensor<2x3x2xsi32>
// CHECK-NEXT:    %rm1 = ann.weight "fc.r1c0.rowmap" digest "6666666666666666" : tensor<2xsi32>
  %rm1 = ann.weight "fc.r1c0.rowmap" digest "6666666666666666" : tensor<2xsi32>
// CHECK-NEXT:    %fm1 = ann.weight "fc.r1c0.faults" digest "7777777777777777" : tensor<3x13xui8>
  %fm1 = ann.weight "fc.r1c0.faults" digest "7777777777777777" : tensor<3x13xui8>
// CHECK-NEXT:    %p1 = cell.mvm %x, %w, %lv1, %cm1, %rm1, %fm1 tile "fc.r1c0" <2x2 at 3, 0> layer "fc" w_bits 4 acc_bits 9 array <3x13, bits_per_cell = 1, slices = 3, ref_col = 12, spare_rows = 0, spare_cols = 0> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x5xui4>, tensor<5x2xsi4>, tensor<3x13xui8>, tensor<2x3x2xsi32>, tensor<2xsi32>, tensor<3x13xui8>) -> tensor<?x2xsi32>
  %p1 = cell.mvm %x, %w, %lv1, %cm1, %rm1, %fm1 tile "fc.r1c0" <2x2 at 3, 0> layer "fc" w_bits 4 acc_bits 9 array <3x13, bits_per_cell = 1, slices = 3, ref_col = 12, spare_rows = 0, spare_cols = 0> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x5xui4>, tensor<5x2xsi4>, tensor<3x13xui8>, tensor<2x3x2xsi32>, tensor<2xsi32>, tensor<3x13xui8>) -> tensor<?x2xsi32>
// CHECK-NEXT:    %lv2 = ann.weight "fc.r1c0.tmr1.levels" digest "8888888888888888" : tensor<3x15xui8>
  %lv2 = ann.weight "fc.r1c0.tmr1.levels" digest "8888888888888888" : tensor<3x15xui8>
// CHECK-NEXT:    %ok2 = ann.constant dense<0> : tensor<3x15xui8> : tensor<3x15xui8>
  %ok2 = ann.constant dense<0> : tensor<3x15xui8> : tensor<3x15xui8>
// CHECK-NEXT:    %p1b = cell.mvm %x, %w, %lv2, %cm1, %rm1, %ok2 tile "fc.r1c0.tmr1" <2x2 at 3, 0> layer "fc" w_bits 4 acc_bits 9 array <3x15, bits_per_cell = 1, slices = 3, ref_col = 12, spare_rows = 0, spare_cols = 2> adc <bits = 1, shift = 1, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x5xui4>, tensor<5x2xsi4>, tensor<3x15xui8>, tensor<2x3x2xsi32>, tensor<2xsi32>, tensor<3x15xui8>) -> tensor<?x2xsi32>
  %p1b = cell.mvm %x, %w, %lv2, %cm1, %rm1, %ok2 tile "fc.r1c0.tmr1" <2x2 at 3, 0> layer "fc" w_bits 4 acc_bits 9 array <3x15, bits_per_cell = 1, slices = 3, ref_col = 12, spare_rows = 0, spare_cols = 2> adc <bits = 1, shift = 1, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x5xui4>, tensor<5x2xsi4>, tensor<3x15xui8>, tensor<2x3x2xsi32>, tensor<2xsi32>, tensor<3x15xui8>) -> tensor<?x2xsi32>
// CHECK-NEXT:    %v1 = cell.vote %p1, %p1b, %p1 layer "fc" : (tensor<?x2xsi32>, tensor<?x2xsi32>, tensor<?x2xsi32>) -> tensor<?x2xsi32>
  %v1 = cell.vote %p1, %p1b, %p1 layer "fc" : (tensor<?x2xsi32>, tensor<?x2xsi32>, tensor<?x2xsi32>) -> tensor<?x2xsi32>
// CHECK-NEXT:    %acc = xbar.accumulate %p0, %v1 layer "fc" acc_bits 31 : (tensor<?x2xsi32>, tensor<?x2xsi32>) -> tensor<?x2xsi32>
  %acc = xbar.accumulate %p0, %v1 layer "fc" acc_bits 31 : (tensor<?x2xsi32>, tensor<?x2xsi32>) -> tensor<?x2xsi32>
// CHECK-NEXT:    %bias = ann.constant dense<[10, -4]> : tensor<2xsi32> : tensor<2xsi32>
  %bias = ann.constant dense<[10, -4]> : tensor<2xsi32> : tensor<2xsi32>
// CHECK-NEXT:    %mult = ann.constant dense<[16384, 24576]> : tensor<2xsi32> : tensor<2xsi32>
  %mult = ann.constant dense<[16384, 24576]> : tensor<2xsi32> : tensor<2xsi32>
// CHECK-NEXT:    %shift = ann.constant dense<16> : tensor<2xsi32> : tensor<2xsi32>
  %shift = ann.constant dense<16> : tensor<2xsi32> : tensor<2xsi32>
// CHECK-NEXT:    %y = xbar.requant %acc, %bias, %mult, %shift layer "fc" acc_bits 31 product_bits 62 {zero_point = 0 : i64, lo = 0 : i64, hi = 255 : i64, out_scale = 1.000000e+00 : f64} : (tensor<?x2xsi32>, tensor<2xsi32>, tensor<2xsi32>, tensor<2xsi32>) -> tensor<?x2xui8>
  %y = xbar.requant %acc, %bias, %mult, %shift layer "fc" acc_bits 31 product_bits 62 {zero_point = 0 : i64, lo = 0 : i64, hi = 255 : i64, out_scale = 1.000000e+00 : f64} : (tensor<?x2xsi32>, tensor<2xsi32>, tensor<2xsi32>, tensor<2xsi32>) -> tensor<?x2xui8>
// CHECK-NEXT:    func.return %y : tensor<?x2xui8>
  func.return %y : tensor<?x2xui8>
// CHECK-NEXT:  }
}
