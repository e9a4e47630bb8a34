set terminal pngcairo size 1100,660 font ",10"
set output 'bench/window.png'
set multiplot layout 2,1
set key outside right top
set grid
set xlabel 'seconds since the label PATCH'
set ylabel 'new connections/s (100 ms bins)'
set title 'steer (steerd on both nodes, kube-proxy nftables beside it), 1000 extra Services; relabeled pods in bold'
unset arrow
set arrow from 0.000, graph 0 to 0.000, graph 1 nohead dt 2 lc rgb "black"
plot 'bench/window-series-steer-1000-nftables.dat' using 1:2 with steps lw 3 title '8bk5t (relabeled)', 'bench/window-series-steer-1000-nftables.dat' using 1:3 with steps lw 1 title '2whmz', 'bench/window-series-steer-1000-nftables.dat' using 1:4 with steps lw 1 title '5fpc4', 'bench/window-series-steer-1000-nftables.dat' using 1:5 with steps lw 1 title '5vkq9', 'bench/window-series-steer-1000-nftables.dat' using 1:6 with steps lw 1 title 'c8z6x', 'bench/window-series-steer-1000-nftables.dat' using 1:7 with steps lw 1 dt 3 lc rgb "red" title 'errors'
set title 'kube-proxy v1.34.4 alone, nftables mode (min-sync-period 1 s), 1000 extra Services; relabeled pods in bold'
unset arrow
set arrow from 0.000, graph 0 to 0.000, graph 1 nohead dt 2 lc rgb "black"
plot 'bench/window-series-kube-proxy-1000-nftables.dat' using 1:2 with steps lw 3 title '5fpc4 (relabeled)', 'bench/window-series-kube-proxy-1000-nftables.dat' using 1:3 with steps lw 1 title '8bk5t', 'bench/window-series-kube-proxy-1000-nftables.dat' using 1:4 with steps lw 1 title 'c8z6x', 'bench/window-series-kube-proxy-1000-nftables.dat' using 1:5 with steps lw 1 title 'jp59g', 'bench/window-series-kube-proxy-1000-nftables.dat' using 1:6 with steps lw 1 title 'zhvxs', 'bench/window-series-kube-proxy-1000-nftables.dat' using 1:7 with steps lw 1 dt 3 lc rgb "red" title 'errors'
unset multiplot
