#!/usr/bin/perl
# Run a command RUNS times in a fresh child each time; print per run
# "wall_s maxrss_kib exit_status". Runs inside the demo target (Debian 12
# minbase has perl-base but neither GNU time nor Time::HiRes), so the clock
# and the child's peak RSS come from raw syscalls: clock_gettime(2)
# CLOCK_MONOTONIC and wait4(2) with its struct rusage (x86_64 numbers).
#
#   perl vm_open.pl RUNS COMMAND [ARGS...]
use strict;
use warnings;

my ($SYS_wait4, $SYS_clock_gettime, $CLOCK_MONOTONIC) = (61, 228, 1);

sub now {
	my $ts = "\0" x 16;
	syscall($SYS_clock_gettime, $CLOCK_MONOTONIC, $ts) == 0 or die "clock_gettime: $!";
	my ($s, $ns) = unpack("q q", $ts);
	return $s + $ns / 1e9;
}

my $runs = shift @ARGV or die "usage: vm_open.pl RUNS COMMAND [ARGS...]\n";
@ARGV or die "usage: vm_open.pl RUNS COMMAND [ARGS...]\n";
for (1 .. $runs) {
	my $t0 = now();
	my $pid = fork() // die "fork: $!";
	if ($pid == 0) {
		exec { $ARGV[0] } @ARGV or exit 127;
	}
	my $status = pack("i", 0);
	my $ru = "\0" x 144;    # struct rusage
	syscall($SYS_wait4, $pid, $status, 0, $ru) == $pid or die "wait4: $!";
	my $t1 = now();
	# ru_utime and ru_stime (two struct timeval) come first, then ru_maxrss (KiB).
	my $maxrss = unpack("q", substr($ru, 32, 8));
	printf "%.4f %d %d\n", $t1 - $t0, $maxrss, unpack("i", $status) >> 8;
}
