# C simulation in Vivado HLS / Vitis HLS: tb.cc on the export's test vectors (see project.tcl).
set steps {csim}
source [file join $::env(FRACNET_SRC) project.tcl]
