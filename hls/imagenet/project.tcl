# FracBNN ImageNet accelerator: the Vivado HLS / Vitis HLS project (sourced by csim.tcl, csynth.tcl, export.tcl).
#
# Environment (set by the Makefile): FRACNET_SRC = this folder, FRACNET_EXPORT = an ImageNet export folder
# (fracnet_config.h, weights.bin, params.bin and the test vectors written by `fracbnn export`).
# The caller sets `steps` to a list of: csim csynth cosim export.
set src [file normalize $::env(FRACNET_SRC)]
set export [file normalize $::env(FRACNET_EXPORT)]
set cflags "-std=c++11 -I$src -I$src/../common -I$export"

open_project -reset fracnet_prj
set_top FracNetImageNet
add_files $src/fracnet.cc -cflags $cflags
add_files -tb $src/tb.cc -cflags "$cflags -Wno-unknown-pragmas"

open_solution -reset solution1
set_part {xczu3eg-sbva484-1-e}
create_clock -period 4 -name default
set_clock_uncertainty 12.5%
config_export -format ip_catalog -rtl verilog

if {[lsearch $steps csim] >= 0} { csim_design -argv "$export 2" }
if {[lsearch $steps csynth] >= 0 || [lsearch $steps export] >= 0} { csynth_design }
if {[lsearch $steps cosim] >= 0} { cosim_design -argv "$export 1" }
if {[lsearch $steps export] >= 0} { export_design -rtl verilog -format ip_catalog }
exit
