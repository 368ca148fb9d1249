// RUN: %python -c "import numpy as np; np.save(r'%t.npy', np.random.default_rng(0).random((16, 6)).astype(np.float32))"
// RUN: anncc-opt %S/Inputs/mlp.mlir -p 'quantize{calib="%t.npy"},tile{rows=8 cols=16 bits-per-cell=1},allocate-resistance{rows=8 cols=16},insert-redundancy{spare-cols=3 spare-rows=2 fault-rate=0.2 seed=1}' --weights-out %t.npz | filecheck %s
// RUN: anncc-opt %S/Inputs/mlp.mlir -p 'quantize{calib="%t.npy"},tile{rows=8 cols=16 bits-per-cell=1},allocate-resistance{rows=8 cols=16},insert-redundancy{fault-rate=0.2 scheme="tmr" layers="y"}' --weights-out %t.npz | filecheck %s --check-prefix=TMR

// Sampled fault maps (small ones inline) feed each array; arrays record the spares they may use, and the module
// records faults before and after remapping.

// CHECK:       builtin.module attributes {{{.*}}anncc.redundancy = "{{.*}}harmful_after{{.*}}"
// CHECK:       ann.constant dense<"0x{{([0-9A-F][0-9A-F])*0[12]}}{{.*}}> : tensor<8x16xui8>
// CHECK:       %[[LV:.*]] = ann.weight "h.r0c0.levels.1" digest {{.*}} : tensor<8x16xui8>
// CHECK-NEXT:  cell.mvm %x_q, %{{.*}}, %[[LV]], %{{.*}}, %{{.*}}, %{{.*}} tile "h.r0c0" {{.*}} spare_rows = 2, spare_cols = 3>

// Layer y is triplicated, each replica with its own faults, and the median votes.
// TMR:         %[[R0:.*]] = cell.mvm {{.*}}tile "y.r0c0.tmr0" {{.*}} layer "y"
// TMR:         %[[R1:.*]] = cell.mvm {{.*}}tile "y.r0c0.tmr1" {{.*}} layer "y"
// TMR:         %[[R2:.*]] = cell.mvm {{.*}}tile "y.r0c0.tmr2" {{.*}} layer "y"
// TMR-NEXT:    cell.vote %[[R0]], %[[R1]], %[[R2]] layer "y"
