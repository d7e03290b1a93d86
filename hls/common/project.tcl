# The Vivado HLS / Vitis HLS project of either accelerator (sourced by csim.tcl, csynth.tcl, export.tcl here).
#
# Environment (set by accelerator.mk): FRACNET_SRC = the accelerator's folder (hls/cifar10 or hls/imagenet),
# FRACNET_TOP = its top function (FracNet_T, FracNetImageNet), FRACNET_EXPORT = an export folder (the
# generated headers and the test vectors written by `fracbnn export` or notebook 04), FRACNET_CSIM_IMAGES
# and FRACNET_COSIM_IMAGES = how many test vectors the tool's C simulation and co-simulation run (empty:
# all), FRACNET_CLOCK_MHZ = the clock (clock.mk; clock.tcl reads clock.mk without it). The caller sets
# `steps` to a list of: csim csynth cosim export. The project is created afresh in the current directory
# (the Makefile runs the tool inside the export folder).
#
# -std=c++0x: Vivado HLS 2019.2 compiles the C simulation with its own gcc 4.6, which knows C++11 only by that
# name (-std=c++11 is an error there); newer gcc and Vitis HLS's clang take it as -std=c++11.
set src [file normalize $::env(FRACNET_SRC)]
set common [file normalize [file dirname [info script]]]
set export [file normalize $::env(FRACNET_EXPORT)]
set cflags "-std=c++0x -I$src -I$common -I$export"
source [file join $common clock.tcl]
set clock_mhz [fracnet_clock_mhz]

open_project -reset fracnet_prj
set_top $::env(FRACNET_TOP)
add_files $src/fracnet.cc -cflags $cflags
add_files -tb $src/tb.cc -cflags "$cflags -Wno-unknown-pragmas"

open_solution -reset solution1
set_part {xczu3eg-sbva484-1-e}
create_clock -period [expr {1000.0 / $clock_mhz}] -name default
set_clock_uncertainty 12.5%
config_export -format ip_catalog -rtl verilog

if {[lsearch $steps csim] >= 0} { csim_design -argv [string trim "$export $::env(FRACNET_CSIM_IMAGES)"] }
if {[lsearch $steps csynth] >= 0 || [lsearch $steps export] >= 0} { csynth_design }
if {[lsearch $steps cosim] >= 0} { cosim_design -argv [string trim "$export $::env(FRACNET_COSIM_IMAGES)"] }
if {[lsearch $steps export] >= 0} { export_design -rtl verilog -format ip_catalog }
exit
