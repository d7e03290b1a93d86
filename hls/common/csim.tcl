# C simulation in Vivado HLS / Vitis HLS: the accelerator's tb.cc on the export's test vectors (project.tcl beside this file).
set steps {csim}
source [file join [file dirname [info script]] project.tcl]
