# The rules both accelerators share, included by hls/cifar10/Makefile and hls/imagenet/Makefile after they
# set TOP (the HLS top function), NETWORK (the "network" of the exports it builds), EXPORT (default export
# folder), SOURCES (what the testbench is built from), GENERATED (the export's headers) and NO_EXPORT (what
# to say when the export is missing).
#
#   make csim   [EXPORT=dir] [N=images]  testbench on the export's test vectors: needs only g++ and the
#                                       ap_int.h/ap_fixed.h headers of the hls4ml wheel (AP_TYPES=dir)
#   make hls    [EXPORT=dir] [HLS=tool]  C synthesis + IP export (Vivado HLS; HLS=vitis_hls for Vitis HLS); keeps
#                                       the report in EXPORT/csynth_report and prints it; the tool's output
#                                       also goes to EXPORT/hls.log
#   make hls-csim [EXPORT=dir]           the vendor tool's own C simulation (csim.tcl; HLS_CSIM_IMAGES=n)
#   make vivado [EXPORT=dir]             bitstream from the exported IP (common/bitstream, with TOP)
#   make clean  [EXPORT=dir]             removes the build outputs inside the export folder
#
# CLOCK_MHZ (clock.mk, 200 by default) is the one clock setting of hls and vivado: the HLS target period and the
# block design's pl_clk0.
#
# Vivado HLS 2019.2 (and every Vivado HLS release) fails in export_design since 1 January 2022: it stamps the
# IP's core_revision with the date as YYMMDDHHMM, which no longer fits a 32-bit integer, and stops with "bad
# lexical cast: source type value could not be interpreted as target ... core_revision". The fix is Xilinx's
# y2k22 patch (AR 76960); `make hls` finds the message in the tool's output and says so in one line.
#
# First of all, every target reads the export's manifest.json: an export of the other accelerator's network
# (or a damaged manifest) is refused in one line that names its network and the right folder, and nothing
# is compiled or written.
#
# Everything built goes inside the export folder it was built for (build/, fracnet_prj/, csynth_report/,
# bitstream/), never into a source folder: the testbench compiles that export's weights in, the HLS project
# is the export's IP, `make vivado` and `fracbnn deploy --bitstream` look for them there, a re-export keeps
# them (fracbnn_lib.hw.export_folder.write_export_folder) and `make clean` or deleting the export removes them
# with it, so no build tree outlives its export or is mistaken for another export's. Only the target a user
# names writes there (csim: build/ alone).

include $(dir $(lastword $(MAKEFILE_LIST)))clock.mk

N        ?=
PYTHON   ?= $(firstword $(wildcard ../../.venv/bin/python) python3)
AP_TYPES ?= $(shell $(PYTHON) -c "from fracbnn_lib.hw.csim_build import ap_types_dir; print(ap_types_dir())" 2>/dev/null)
CXX      ?= g++
CXXFLAGS ?= -O2 -std=c++14 -w
HLS      ?= vivado_hls
HLS_CSIM_IMAGES ?=
COSIM_IMAGES    ?= 1

COMMON     := $(CURDIR)/../common
EXPORT_ABS := $(abspath $(EXPORT))
BUILD      := $(EXPORT_ABS)/build

# The network of each accelerator's exports (manifest.json "network") and its folder under hls/.
ACCELERATORS := fracbnn_resnet20_cifar10=cifar10 fracbnn_reactnet_imagenet=imagenet
# The export's network: empty without a manifest.json (the rules below say what is missing), ?damaged for
# one that is not JSON, ?unnamed for one without a "network".
# (Without a Python to read it, nothing is checked.)
MANIFEST_PYTHON := $(firstword $(wildcard $(PYTHON)) python3)
EXPORT_NETWORK := $(shell m="$(EXPORT_ABS)/manifest.json"; test -f "$$m" || exit 0; \
	command -v $(MANIFEST_PYTHON) >/dev/null 2>&1 || exit 0; \
	$(MANIFEST_PYTHON) -c 'import json, sys; m = json.load(open(sys.argv[1])); \
	n = m.get("network") if isinstance(m, dict) else None; \
	print(n if isinstance(n, str) and n.replace("-", "_").isidentifier() else "?unnamed")' "$$m" 2>/dev/null || echo "?damaged")
RIGHT_FOLDER := $(patsubst $(EXPORT_NETWORK)=%,%,$(filter $(EXPORT_NETWORK)=%,$(ACCELERATORS)))
GOALS := $(or $(MAKECMDGOALS),csim)
HERE  := hls/$(notdir $(CURDIR))
ifeq ($(EXPORT_NETWORK),?damaged)
  WRONG_EXPORT := $(EXPORT)/manifest.json is damaged (not JSON): export the checkpoint again
else ifeq ($(EXPORT_NETWORK),?unnamed)
  WRONG_EXPORT := $(EXPORT)/manifest.json names no network: is $(EXPORT) a folder written by fracbnn export?
else ifneq ($(RIGHT_FOLDER),)
  ifneq ($(EXPORT_NETWORK),$(NETWORK))
    WRONG_EXPORT := $(EXPORT) is an export of $(EXPORT_NETWORK), not of $(HERE)'s $(NETWORK): use \
      hls/$(RIGHT_FOLDER) (make -C hls/$(RIGHT_FOLDER) $(GOALS) EXPORT=$(EXPORT_ABS))
  endif
else ifneq ($(EXPORT_NETWORK),)
  WRONG_EXPORT := $(EXPORT) is an export of $(EXPORT_NETWORK), which no accelerator here builds (hls/cifar10: \
    fracbnn_resnet20_cifar10, hls/imagenet: fracbnn_reactnet_imagenet)
endif

ifneq ($(WRONG_EXPORT),)
.PHONY: csim hls hls-csim vivado clean
csim hls hls-csim vivado clean:
	@echo "error: $(WRONG_EXPORT)" >&2; exit 1
else
HLS_ENV    := FRACNET_SRC=$(CURDIR) FRACNET_EXPORT=$(EXPORT_ABS) FRACNET_TOP=$(TOP) FRACNET_CLOCK_MHZ=$(CLOCK_MHZ) \
              FRACNET_CSIM_IMAGES="$(HLS_CSIM_IMAGES)" FRACNET_COSIM_IMAGES="$(COSIM_IMAGES)"
Y2K22_FIX  := Vivado HLS export_design failed on the year-2022 bug (bad lexical cast of the IP core_revision): \
              apply Xilinx AR 76960 (unzip y2k22_patch-1.2.zip in the Xilinx install folder and run its patch.py \
              with the Python of Vivado/<version>/tps), then make hls again

.PHONY: csim hls hls-csim vivado clean

csim: $(BUILD)/tb
	$(BUILD)/tb $(EXPORT_ABS) $(N)

$(BUILD)/tb: $(SOURCES) $(GENERATED)
	@test -n "$(AP_TYPES)" -a -f "$(AP_TYPES)/ap_fixed.h" || { echo "error: ap_fixed.h not found: pip install hls4ml, or make csim AP_TYPES=<folder with ap_int.h and ap_fixed.h>" >&2; exit 1; }
	@command -v $(CXX) >/dev/null || { echo "error: $(CXX) not found: install g++ (e.g. apt-get install g++) or pass CXX=<compiler>" >&2; exit 1; }
	mkdir -p $(BUILD)
	$(CXX) $(CXXFLAGS) -I$(EXPORT_ABS) -I$(CURDIR) -I$(COMMON) -I$(AP_TYPES) fracnet.cc tb.cc -o $@.tmp
	mv $@.tmp $@

$(GENERATED):
	@echo "error: $(NO_EXPORT)" >&2; exit 1

hls: $(GENERATED)
	@command -v $(HLS) >/dev/null || { echo "error: $(HLS) not found: source the Xilinx settings script (or HLS=vitis_hls)" >&2; exit 1; }
	@cd $(EXPORT_ABS) && { $(HLS_ENV) $(HLS) -f $(COMMON)/export.tcl 2>&1; echo $$? > hls.status; } | tee hls.log; \
	  status=$$(cat hls.status); rm -f hls.status; \
	  if grep -q "bad lexical cast" hls.log && grep -q core_revision hls.log; then echo "error: $(Y2K22_FIX)" >&2; exit 1; fi; \
	  exit $$status
	rm -rf $(EXPORT_ABS)/csynth_report && cp -r $(EXPORT_ABS)/fracnet_prj/solution1/syn/report $(EXPORT_ABS)/csynth_report
	$(PYTHON) -m fracbnn_lib hls-report $(EXPORT_ABS)/csynth_report

hls-csim: $(GENERATED)
	@command -v $(HLS) >/dev/null || { echo "error: $(HLS) not found: source the Xilinx settings script (or HLS=vitis_hls)" >&2; exit 1; }
	cd $(EXPORT_ABS) && $(HLS_ENV) $(HLS) -f $(COMMON)/csim.tcl

vivado:
	@test -d $(EXPORT_ABS)/fracnet_prj/solution1/impl/ip || { echo "error: no exported IP in $(EXPORT): run make hls first" >&2; exit 1; }
	$(MAKE) -C $(COMMON)/bitstream TOP=$(TOP) IP_REPO=$(EXPORT_ABS)/fracnet_prj/solution1/impl/ip OUT=$(EXPORT_ABS)/bitstream \
	  CLOCK_MHZ=$(CLOCK_MHZ)

clean:
	rm -rf $(BUILD) $(EXPORT_ABS)/fracnet_prj $(EXPORT_ABS)/csynth_report $(EXPORT_ABS)/vivado_hls.log $(EXPORT_ABS)/vitis_hls.log \
	  $(EXPORT_ABS)/hls.log
endif
