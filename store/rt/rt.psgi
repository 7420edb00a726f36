# RT's web app for Plack, behind Nua's nginx, which passes the Host the
# client named and X-Forwarded-Proto, -Host and -Port (only nginx reaches
# this port). For each request RT's own URL is set to the one the browser
# used, so that its redirects, its links and its referrer check against
# cross-site requests hold on whatever domain and port serve the instance.
use strict;
use warnings;
use Plack::Builder;

# rt-server returns RT's app when it is loaded as a .psgi file.
my $rt = do '/usr/share/request-tracker5/libexec/rt-server';
die "cannot load RT: " . ($@ || $! || "rt-server gave no app") . "\n" unless ref $rt eq 'CODE';

my $origin = sub {
    my $app = shift;
    return sub {
        my $env = shift;
        my $scheme = ($env->{'psgi.url_scheme'} || '') eq 'https' ? 'https' : 'http';
        my ($host) = ($env->{HTTP_HOST} || '') =~ /^([A-Za-z0-9.-]+)(?::\d+)?$/;
        my $port = $env->{SERVER_PORT} || '';
        if ($host && $port =~ /^\d+$/) {
            my $base = "$scheme://$host" . ($port == ($scheme eq 'https' ? 443 : 80) ? '' : ":$port");
            RT->Config->Set(WebDomain  => $host);
            RT->Config->Set(WebPort    => $port);
            RT->Config->Set(WebBaseURL => $base);
            RT->Config->Set(WebURL     => $base . RT->Config->Get('WebPath') . '/');
        }
        return $app->($env);
    };
};

builder {
    enable 'ReverseProxy';
    enable $origin;
    $rt;
};
