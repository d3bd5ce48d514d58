#!/usr/bin/perl
# Writes expected.tsv: the reference classifier's answers (Sisimai, Debian package
# libsisimai-perl) for every message of sisimai/ and flufl/. Run from this folder:
#   perl sisimai_reference.pl > expected.tsv
# A message Sisimai finds nothing in gets one row with recipient "-".
use strict;
use warnings;
use Sisimai;

print "# file\trecipient\tstatus\treason\thard\t(reference: Sisimai $Sisimai::VERSION)\n";
for my $file (sort(glob('sisimai/*.eml'), glob('flufl/*.txt'))) {
    my $found = Sisimai->make($file, vacation => 1) || [];
    if (!@$found) { print "$file\t-\t-\t-\t-\n"; next; }
    for my $e (@$found) {
        my $recipient = $e->recipient->address;
        # Sisimai's stand-in for a complaint that names no recipient.
        $recipient = '' if $recipient =~ /\@libsisimai\.org\.invalid\z/;
        printf "%s\t%s\t%s\t%s\t%d\n", $file, $recipient, $e->deliverystatus, $e->reason,
            ($e->softbounce == 0 ? 1 : 0);
    }
}
