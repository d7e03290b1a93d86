# The rules both accelerators share, included by hls/cifar10/Makefile and hls/imagenet/Makefile after they
# set TOP (the HLS top function), EXPORT (default export folder), SOURCES (what the testbench is built
# from), GENERATED (the export's headers) and NO_EXPORT (what to say when the export is missing).
#
#   make csim   [EXPORT=dir] [N=images]  testbench on the export's test vectors: needs only g++ and the
#                                       ap_int.h/ap_fixed.h headers of the hls4ml wheel (AP_TYPES=dir)
#   make hls    [EXPORT=dir] [HLS=tool]  C synthesis + IP export (Vivado HLS; HLS=vitis_hls for Vitis HLS); keeps
#                                       the report in EXPORT/csynth_report and prints it
#   make hls-csim [EXPORT=dir]           the vendor tool's own C simulation (csim.tcl; HLS_CSIM_IMAGES=n)
#   make vivado [EXPORT=dir]             bitstream from the exported IP (common/bitstream, with TOP)
#   make clean  [EXPORT=dir]             removes the build outputs inside the export folder
#
# Everything built goes inside the export folder (build/, fracnet_prj/), never into a source folder.

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
HLS_ENV    := FRACNET_SRC=$(CURDIR) FRACNET_EXPORT=$(EXPORT_ABS) FRACNET_TOP=$(TOP) \
              FRACNET_CSIM_IMAGES="$(HLS_CSIM_IMAGES)" FRACNET_COSIM_IMAGES="$(COSIM_IMAGES)"

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
	cd $(EXPORT_ABS) && $(HLS_ENV) $(HLS) -f $(COMMON)/export.tcl
	rm -rf $(EXPORT_ABS)/csynth_report && cp -r $(EXPORT_ABS)/fracnet_prj/solution1/syn/report $(EXPORT_ABS)/csynth_report
	$(PYTHON) -m fracbnn_lib hls-report $(EXPORT_ABS)/csynth_report

hls-csim: $(GENERATED)
	@command -v $(HLS) >/dev/null || { echo "error: $(HLS) not found: source the Xilinx settings script (or HLS=vitis_hls)" >&2; exit 1; }
	cd $(EXPORT_ABS) && $(HLS_ENV) $(HLS) -f $(COMMON)/csim.tcl

vivado:
	@test -d $(EXPORT_ABS)/fracnet_prj/solution1/impl/ip || { echo "error: no exported IP in $(EXPORT): run make hls first" >&2; exit 1; }
	$(MAKE) -C $(COMMON)/bitstream TOP=$(TOP) IP_REPO=$(EXPORT_ABS)/fracnet_prj/solution1/impl/ip OUT=$(EXPORT_ABS)/bitstream

clean:
	rm -rf $(BUILD) $(EXPORT_ABS)/fracnet_prj $(EXPORT_ABS)/csynth_report $(EXPORT_ABS)/vivado_hls.log $(EXPORT_ABS)/vitis_hls.log
