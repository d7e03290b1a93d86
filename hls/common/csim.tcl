# C simulation in Vivado HLS / Vitis HLS: the accelerator's tb.cc on the export's test vectors (FRACNET_SRC/project.tcl).
set steps {csim}
source [file join $::env(FRACNET_SRC) project.tcl]
