# An HLS accelerator on the Ultra96v2 (PYNQ): Vivado block design, bitstream and hardware handoff.
#
#   vivado -mode batch -source block_design.tcl -tclargs --ip-repo DIR [--top FracNet_T] [--out DIR]
#          [--board-part PART] [--clock-mhz MHZ] [--jobs 4]   (MHZ: default ../clock.mk's CLOCK_MHZ, 200)
#
# --ip-repo is the IP catalogue that HLS exported (export_design -format ip_catalog) for hls/cifar10
# (--top FracNet_T, the default) or hls/imagenet (--top FracNetImageNet).
# The block design:
#
#   Zynq UltraScale+ PS  M_AXI_HPM0_FPD --> SmartConnect --> FracNet_T_0/s_axi_CTRL   (control register,
#                                                                                       image/out addresses)
#   FracNet_T_0/m_axi_IMG    --> SmartConnect --> PS S_AXI_HP0_FPD (DDR)   input words, uint64[3][32][32]
#   FracNet_T_0/m_axi_RESULT --> SmartConnect --> PS S_AXI_HP1_FPD (DDR)   logits, float[10]
#   pl_clk0 (the clock of ../clock.mk, which the HLS target shares) clocks the IP and the interconnect;
#   proc_sys_reset derives their reset from pl_resetn0.
#
# With the Ultra96v2 board files installed the PS takes the board preset; without them only the
# part is set (PYNQ keeps the PS configuration of its boot image and sets pl_clk0 from the .hwh).
# Output: OUT/<top>.bit and OUT/<top>.hwh, the same base name, as pynq.Overlay expects.
# Implementation that misses timing at the requested clock is an error (a bitstream with negative
# slack can compute wrong logits): lower --clock-mhz.

set ip_repo ""
set out_dir "build"
set board_part "avnet.com:ultra96v2:part0:1.2"
set part "xczu3eg-sbva484-1-e"
source [file join [file dirname [file normalize [info script]]] .. clock.tcl]
set clock_mhz [fracnet_clock_mhz]
set jobs 4
set project fracnet_ultra96v2
set top FracNet_T

for {set i 0} {$i < $argc} {incr i} {
  set option [lindex $argv $i]
  incr i
  if {$i >= $argc} {
    puts "ERROR: option $option needs a value"
    exit 2
  }
  set value [lindex $argv $i]
  switch -- $option {
    --ip-repo    { set ip_repo $value }
    --out        { set out_dir $value }
    --board-part { set board_part $value }
    --clock-mhz  { set clock_mhz $value }
    --jobs       { set jobs $value }
    --top        { set top $value }
    default {
      puts "ERROR: unknown option $option (known: --ip-repo --out --board-part --clock-mhz --jobs --top)"
      exit 2
    }
  }
}
set hls_ip "xilinx.com:hls:${top}:1.0"
if {$ip_repo eq "" || ![file isdirectory $ip_repo]} {
  puts "ERROR: HLS IP catalogue not found ('$ip_repo'): run 'make hls' in hls/cifar10 or hls/imagenet and pass --ip-repo"
  exit 1
}

# The newest version of a Xilinx IP in this Vivado (versions differ between releases).
proc latest_vlnv {name} {
  set found [lsort -dictionary [get_ipdefs -all "xilinx.com:ip:${name}:*"]]
  if {[llength $found] == 0} {
    puts "ERROR: IP $name is not in this Vivado's catalogue (Zynq UltraScale+ support installed?)"
    exit 1
  }
  return [lindex $found end]
}

# ------------------------------------------------------------------------------------------ project
set project_dir [file normalize [file join $out_dir vivado]]
create_project -force $project $project_dir -part $part
set use_board [expr {[llength [get_board_parts -quiet $board_part]] > 0}]
if {$use_board} {
  set_property board_part $board_part [current_project]
} else {
  puts "WARNING: board files for $board_part are not installed: building for the part $part only"
}
set_property ip_repo_paths [list [file normalize $ip_repo]] [current_project]
update_ip_catalog -rebuild
if {[llength [get_ipdefs -all $hls_ip]] == 0} {
  puts "ERROR: $hls_ip is not in $ip_repo: export the HLS IP first (or pass the --top it exports)"
  exit 1
}

# ------------------------------------------------------------------------------------------ block design
create_bd_design design_1

set ps [create_bd_cell -type ip -vlnv [latest_vlnv zynq_ultra_ps_e] zynq_ultra_ps_e_0]
if {$use_board} {
  apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config {apply_board_preset "1"} $ps
}
set_property -dict [list \
  CONFIG.PSU__USE__M_AXI_GP0 {1} \
  CONFIG.PSU__USE__M_AXI_GP1 {0} \
  CONFIG.PSU__USE__M_AXI_GP2 {0} \
  CONFIG.PSU__FPGA_PL0_ENABLE {1} \
  CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $clock_mhz \
] $ps

set accel [create_bd_cell -type ip -vlnv $hls_ip ${top}_0]

# One SmartConnect for the control port and one per AXI master of the IP, each master on its own
# high-performance port of the PS (HP0, HP1, ...): FracNet_T has two (IMG, RESULT), FracNetImageNet three
# (IMG, WGT, FMAP).
set masters [lsort [get_bd_intf_pins -of_objects $accel -filter {MODE == Master}]]
if {[llength $masters] > 4} {
  puts "ERROR: $top has [llength $masters] AXI masters; the PS has 4 high-performance ports"
  exit 1
}
set smc_ctrl [create_bd_cell -type ip -vlnv [latest_vlnv smartconnect] smc_ctrl]
set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {1}] $smc_ctrl
create_bd_cell -type ip -vlnv [latest_vlnv proc_sys_reset] rst_pl_clk0
connect_bd_intf_net [get_bd_intf_pins zynq_ultra_ps_e_0/M_AXI_HPM0_FPD] [get_bd_intf_pins smc_ctrl/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins smc_ctrl/M00_AXI] [get_bd_intf_pins ${top}_0/s_axi_CTRL]
set clocked [list [get_bd_pins ${top}_0/ap_clk] [get_bd_pins smc_ctrl/aclk] [get_bd_pins rst_pl_clk0/slowest_sync_clk] \
  [get_bd_pins zynq_ultra_ps_e_0/maxihpm0_fpd_aclk]]
set resets [list [get_bd_pins ${top}_0/ap_rst_n] [get_bd_pins smc_ctrl/aresetn]]
set hp 0
foreach master $masters {
  set smc [create_bd_cell -type ip -vlnv [latest_vlnv smartconnect] smc_hp$hp]
  set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {1}] $smc
  set_property CONFIG.PSU__USE__S_AXI_GP[expr {$hp + 2}] {1} $ps
  connect_bd_intf_net $master [get_bd_intf_pins smc_hp$hp/S00_AXI]
  connect_bd_intf_net [get_bd_intf_pins smc_hp$hp/M00_AXI] [get_bd_intf_pins zynq_ultra_ps_e_0/S_AXI_HP${hp}_FPD]
  lappend clocked [get_bd_pins smc_hp$hp/aclk] [get_bd_pins zynq_ultra_ps_e_0/saxihp${hp}_fpd_aclk]
  lappend resets [get_bd_pins smc_hp$hp/aresetn]
  incr hp
}

# One clock (pl_clk0) and its synchronised reset for everything in the PL.
connect_bd_net [get_bd_pins zynq_ultra_ps_e_0/pl_clk0] {*}$clocked
connect_bd_net [get_bd_pins zynq_ultra_ps_e_0/pl_resetn0] [get_bd_pins rst_pl_clk0/ext_reset_in]
connect_bd_net [get_bd_pins rst_pl_clk0/peripheral_aresetn] {*}$resets

assign_bd_address
validate_bd_design
save_bd_design

# ------------------------------------------------------------------------------------------ bitstream
set wrapper [make_wrapper -files [get_files design_1.bd] -top]
add_files -norecurse $wrapper
set_property top design_1_wrapper [current_fileset]
update_compile_order -fileset sources_1

launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} {
  puts "ERROR: implementation did not finish: see the logs under $project_dir/$project.runs"
  exit 1
}
set wns [get_property STATS.WNS [get_runs impl_1]]
if {$wns < 0} {
  puts "ERROR: timing not met at $clock_mhz MHz (worst negative slack $wns ns): rebuild with a lower --clock-mhz"
  exit 1
}

# ------------------------------------------------------------------------------------------ outputs for PYNQ
set bit [lindex [glob -nocomplain [file join $project_dir $project.runs impl_1 *.bit]] 0]
set hwh [lindex [concat \
  [glob -nocomplain [file join $project_dir $project.gen sources_1 bd design_1 hw_handoff design_1.hwh]] \
  [glob -nocomplain [file join $project_dir $project.srcs sources_1 bd design_1 hw_handoff design_1.hwh]]] 0]
if {$bit eq "" || $hwh eq ""} {
  puts "ERROR: bitstream or hardware handoff (.hwh) not found under $project_dir"
  exit 1
}
file mkdir $out_dir
file copy -force $bit [file join $out_dir $top.bit]
file copy -force $hwh [file join $out_dir $top.hwh]
puts "wrote [file join $out_dir $top.bit] and [file join $out_dir $top.hwh] ($clock_mhz MHz, WNS $wns ns)"
