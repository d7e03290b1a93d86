# The accelerators' clock in MHz (clock.mk beside this file, CLOCK_MHZ): FRACNET_CLOCK_MHZ from the environment
# (accelerator.mk and bitstream/Makefile set it from clock.mk), else clock.mk's own value.
set fracnet_clock_file [file join [file dirname [file normalize [info script]]] clock.mk]

proc fracnet_clock_mhz {} {
  if {[info exists ::env(FRACNET_CLOCK_MHZ)] && $::env(FRACNET_CLOCK_MHZ) ne ""} {
    return $::env(FRACNET_CLOCK_MHZ)
  }
  set f [open $::fracnet_clock_file]
  set text [read $f]
  close $f
  if {![regexp -line {^CLOCK_MHZ\s*\??=\s*([0-9.]+)} $text -> mhz]} {
    error "no CLOCK_MHZ in $::fracnet_clock_file"
  }
  return $mhz
}
