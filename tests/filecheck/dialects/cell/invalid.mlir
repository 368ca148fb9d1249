// RUN: anncc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// One case per verifier message of the `cell` dialect: a physical array must
// hold its tile (logical rows plus spare rows; columns x slices x 2 polarities
// plus the reference column plus spare columns), its bit slices must hold the
// weight's magnitude bits, acc_bits must cover the tile's worst case, the
// level, fault and column/row maps must have the array's shapes and types, and
// a vote takes exactly three si32 replicas. Each diagnostic names the file,
// line and column of the failing op.

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: tile rows [6, 10) x cols [0, 6) exceed the 8x6 weight
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 6, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 39, spare_rows = 0, spare_cols = 2> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: w_bits must be in [2, 8] and fit the weight type, got 9 in tensor<8x6xsi4>
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 9 acc_bits 15 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 39, spare_rows = 0, spare_cols = 2> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: bits_per_cell must be in [1, 4], got 5
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 5, slices = 3, ref_col = 39, spare_rows = 0, spare_cols = 2> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: 2 slices of 1 bits cannot hold 3 magnitude bits
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 1, slices = 2, ref_col = 39, spare_rows = 0, spare_cols = 2> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: acc_bits 3 must cover the worst case of 4 rows (10 bits) and fit the si32 partial sum
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 3 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 39, spare_rows = 0, spare_cols = 2> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: 4 rows + 5 spare rows exceed the array's 8 rows
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 39, spare_rows = 5, spare_cols = 2> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: 6 columns x 3 slices x 2 polarities + reference + 4 spares = 41 exceed the array's 40 columns
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 39, spare_rows = 0, spare_cols = 4> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: reference column 40 outside the array
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 40, spare_rows = 0, spare_cols = 2> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: adc_bits must be in [1, 16] and adc_shift >= 0, got 0, 0
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 39, spare_rows = 0, spare_cols = 2> adc <bits = 0, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: adc_bits must be in [1, 16] and adc_shift >= 0, got 2, -1
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 39, spare_rows = 0, spare_cols = 2> adc <bits = 2, shift = -1, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: dac_bits 5 must be in [1, in_bits=4], in_bits <= 16
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 39, spare_rows = 0, spare_cols = 2> adc <bits = 2, shift = 0, dac_bits = 5> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: need v_read_v > 0 and 0 <= g_min_s < g_max_s
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 39, spare_rows = 0, spare_cols = 2> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.0, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: need v_read_v > 0 and 0 <= g_min_s < g_max_s
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 39, spare_rows = 0, spare_cols = 2> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0003, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x39xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: levels 8x39 should be 8x40
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 39, spare_rows = 0, spare_cols = 2> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x39xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<7x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: faults 7x40 should be 8x40
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 39, spare_rows = 0, spare_cols = 2> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<7x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x2x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: colmap 6x2x2 should be 6x3x2
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 39, spare_rows = 0, spare_cols = 2> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x2x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<5xsi32>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: rowmap 5 should be 4
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 39, spare_rows = 0, spare_cols = 2> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<5xsi32>, tensor<8x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui4>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: levels and faults are ui8 maps
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 39, spare_rows = 0, spare_cols = 2> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui4>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xsi8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: levels and faults are ui8 maps
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 39, spare_rows = 0, spare_cols = 2> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xsi8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xui32>, tensor<4xsi32>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: colmap and rowmap are si32
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 39, spare_rows = 0, spare_cols = 2> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xui32>, tensor<4xsi32>, tensor<8x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi64>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: colmap and rowmap are si32
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 39, spare_rows = 0, spare_cols = 2> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi64>, tensor<8x40xui8>) -> tensor<?x6xsi32>

// -----

%x, %w, %levels, %colmap, %rowmap, %faults = "test.op"() : () -> (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>)
// CHECK: :[[# @LINE + 1]]:1: cell.mvm: partial sums are si32
%p = cell.mvm %x, %w, %levels, %colmap, %rowmap, %faults tile "fc1.r1c0" <4x6 at 4, 0> layer "fc1" w_bits 4 acc_bits 10 array <8x40, bits_per_cell = 1, slices = 3, ref_col = 39, spare_rows = 0, spare_cols = 2> adc <bits = 2, shift = 0, dac_bits = 1> analog <v_read = 0.1, g_min = 0.0001, g_max = 0.0002> : (tensor<?x8xui4>, tensor<8x6xsi4>, tensor<8x40xui8>, tensor<6x3x2xsi32>, tensor<4xsi32>, tensor<8x40xui8>) -> tensor<?x6xsi16>

// -----

%a, %b = "test.op"() : () -> (tensor<?x6xsi32>, tensor<?x6xsi32>)
// CHECK: :[[# @LINE + 1]]:1: cell.vote: votes over 3 replicas, got 2
%v = cell.vote %a, %b layer "fc1" : (tensor<?x6xsi32>, tensor<?x6xsi32>) -> tensor<?x6xsi32>

// -----

%a, %b = "test.op"() : () -> (tensor<?x6xsi32>, tensor<?x5xsi32>)
// CHECK: :[[# @LINE + 1]]:1: cell.vote: replica tensor<?x5xsi32> differs from result
%v = cell.vote %a, %a, %b layer "fc1" : (tensor<?x6xsi32>, tensor<?x6xsi32>, tensor<?x5xsi32>) -> tensor<?x6xsi32>

// -----

%a = "test.op"() : () -> tensor<?x6xsi16>
// CHECK: :[[# @LINE + 1]]:1: cell.vote: votes on si32 partial sums
%v = cell.vote %a, %a, %a layer "fc1" : (tensor<?x6xsi16>, tensor<?x6xsi16>, tensor<?x6xsi16>) -> tensor<?x6xsi16>
