# C synthesis for the Ultra96v2 (xczu3eg-sbva484-1-e, the clock of clock.mk); reports in fracnet_prj/solution1/syn/report.
set steps {csynth}
source [file join [file dirname [info script]] project.tcl]
