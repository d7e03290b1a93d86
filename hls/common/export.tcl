# C synthesis, then export as a Vivado IP (fracnet_prj/solution1/impl/ip) for the block design in hls/common/bitstream/.
set steps {csynth export}
source [file join [file dirname [info script]] project.tcl]
