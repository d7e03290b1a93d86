# FracBNN CIFAR-10 accelerator: the Vivado HLS / Vitis HLS project (sourced by csim.tcl, csynth.tcl, export.tcl).
#
# Environment (set by the Makefile): FRACNET_SRC = this folder, FRACNET_EXPORT = an export folder
# (weights.h, fracnet_config.h and the test vectors written by `fracbnn export` or notebook 04).
# The caller sets `steps` to a list of: csim csynth cosim export. The project is created afresh in
# the current directory (the Makefile runs the tool inside the export folder).
set src [file normalize $::env(FRACNET_SRC)]
set export [file normalize $::env(FRACNET_EXPORT)]
set cflags "-std=c++11 -I$src -I$src/../common -I$export"

open_project -reset fracnet_prj
set_top FracNet_T
add_files $src/fracnet.cc -cflags $cflags
add_files -tb $src/tb.cc -cflags "$cflags -Wno-unknown-pragmas"

open_solution -reset solution1
set_part {xczu3eg-sbva484-1-e}
create_clock -period 4 -name default
set_clock_uncertainty 12.5%
config_export -format ip_catalog -rtl verilog

if {[lsearch $steps csim] >= 0} { csim_design -argv $export }
if {[lsearch $steps csynth] >= 0 || [lsearch $steps export] >= 0} { csynth_design }
if {[lsearch $steps cosim] >= 0} { cosim_design -argv "$export 4" }
if {[lsearch $steps export] >= 0} { export_design -rtl verilog -format ip_catalog }
exit
