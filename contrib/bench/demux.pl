#!/usr/bin/perl
# demux.pl LISTEN SINK ECHO [TIMEOUT_S] — one TCP port in front of two
# test services, for cc.sh's latency section: a tunnel server has a single
# "connect" address, but a bulk upload (upstream sinksource) and an
# interactive probe (upstream echo) must share one client/server pair.
# A connection whose first 4 bytes are loadgen's sinksource magic "KTLG"
# goes to SINK, any other to ECHO; bytes are then copied both ways, EOF
# is passed on as a half-close. Prints "listening on PORT" when ready;
# exits 0 on SIGTERM/SIGINT, 2 after TIMEOUT_S (default 600).
#
# One process, select() and blocking writes: SINK reads as fast as we
# write and ECHO answers a few hundred bytes at a time, so a write never
# waits long. perl-base (Essential on Debian) has everything used here.
use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;

my ($listen, $sink, $echo, $timeout) = @ARGV;
die "usage: demux.pl LISTEN SINK ECHO [TIMEOUT_S]\n" unless defined $echo;
$SIG{PIPE} = 'IGNORE';
$SIG{TERM} = $SIG{INT} = sub { exit 0 };
$SIG{ALRM} = sub { exit 2 };
alarm($timeout // 600);

my $l = IO::Socket::INET->new(
	LocalAddr => $listen,
	Listen    => 64,
	ReuseAddr => 1
) or die "demux: listen $listen: $!\n";
$| = 1;
print "listening on ", $l->sockport, "\n";

my $sel = IO::Select->new($l);
my (%peer, %head, %eof);

sub drop {
	for my $fh (@_) {
		next unless defined $fh;
		$sel->remove($fh);
		delete $peer{$fh};
		delete $head{$fh};
		delete $eof{$fh};
		close $fh;
	}
}

for (;;) {
	for my $fh ($sel->can_read) {
		if ($fh == $l) {
			my $c = $l->accept or next;
			$head{$c} = '';
			$sel->add($c);
			next;
		}
		my $n = sysread($fh, my $buf, 65536);
		next if !defined $n && ($!{EINTR} || $!{EAGAIN});
		if (exists $head{$fh}) {
			if (!$n) {
				drop($fh);
				next;
			}
			$head{$fh} .= $buf;
			next if length($head{$fh}) < 4;
			my $to = substr($head{$fh}, 0, 4) eq 'KTLG' ? $sink : $echo;
			my $u = IO::Socket::INET->new(PeerAddr => $to);
			if (!$u) {
				warn "demux: connect $to: $!\n";
				drop($fh);
				next;
			}
			$buf = delete $head{$fh};
			$peer{$fh} = $u;
			$peer{$u}  = $fh;
			$sel->add($u);
		}
		my $to = $peer{$fh} or next;
		if (!defined $n) { # reset: both sides go
			drop($fh, $to);
			next;
		}
		if ($n == 0) {
			shutdown($to, 1);
			$sel->remove($fh);
			$eof{$fh} = 1;
			drop($fh, $to) if $eof{$to};
			next;
		}
		my $off = 0;
		while ($off < $n) {
			my $w = syswrite($to, $buf, $n - $off, $off);
			next if !defined $w && $!{EINTR};
			last unless defined $w;
			$off += $w;
		}
		drop($fh, $to) if $off < $n;
	}
}
