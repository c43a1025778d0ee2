/* HP's SYS_* helpers from C: socket options set and read back, socket addresses with HP's
 * buffer protocol, byte order, the allocator, the version. */
#include <hpsocket/HPSocket4C.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int failures = 0;
#define EXPECT(cond) do { if (!(cond)) { printf("FAIL line %d: %s\n", __LINE__, #cond); failures++; } } while (0)

int main(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT(s >= 0);
    EXPECT(SYS_SSO_NoDelay(s, TRUE) == 0);
    int v = 0, len = sizeof(v);
    EXPECT(SYS_GetSocketOption(s, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 && v != 0);
    EXPECT(SYS_SSO_ReuseAddress(s, RAP_ADDR_AND_PORT) == 0);
    len = sizeof(v);
    EXPECT(SYS_GetSocketOption(s, SOL_SOCKET, SO_REUSEPORT, &v, &len) == 0 && v != 0);
    EXPECT(SYS_SSO_RecvBuffSize(s, 65536) == 0);
    EXPECT(SYS_SSO_Linger(s, 1, 3) == 0);
    struct linger lg;
    len = sizeof(lg);
    EXPECT(SYS_GetSocketOption(s, SOL_SOCKET, SO_LINGER, &lg, &len) == 0 && lg.l_onoff == 1 && lg.l_linger == 3);
    EXPECT(SYS_SSO_DontLinger(s, TRUE) == 0);
    EXPECT(SYS_SSO_RecvTimeOut(s, 1500) == 0);
    EXPECT(SYS_SSO_NoBlock(s, TRUE) == 0 && (fcntl(s, F_GETFL) & O_NONBLOCK));
    EXPECT(SYS_fcntl_SETFL(s, O_NONBLOCK, FALSE) && !(fcntl(s, F_GETFL) & O_NONBLOCK));
    EXPECT(SYS_SSO_NoDelay(-1, TRUE) == -1);

    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT(bind(s, (struct sockaddr*)&a, sizeof(a)) == 0);
    TCHAR addr[64];
    int alen = 3;
    USHORT port = 0;
    EXPECT(!SYS_GetSocketLocalAddress(s, addr, &alen, &port) && alen == 10);
    EXPECT(SYS_GetSocketLocalAddress(s, addr, &alen, &port) && strcmp(addr, "127.0.0.1") == 0 && port != 0);
    alen = sizeof(addr);
    EXPECT(!SYS_GetSocketRemoteAddress(s, addr, &alen, &port)); /* not connected */
    EXPECT(!SYS_GetSocketLocalAddress(-1, addr, &alen, &port)); /* a bad descriptor: FALSE */
    close(s);

    EXPECT(SYS_SwapEndian16(0x1234) == 0x3412);
    EXPECT(SYS_SwapEndian32(0x12345678u) == 0x78563412u);
    EXPECT(SYS_IsLittleEndian());
    EXPECT(SYS_NToH64(SYS_HToN64(0x0102030405060708ULL)) == 0x0102030405060708ULL);
    EXPECT(SYS_HToN64(1) == 0x0100000000000000ULL);

    LPBYTE m = SYS_Malloc(16);
    EXPECT(m != NULL);
    memset(m, 7, 16);
    m = SYS_Realloc(m, 4096);
    EXPECT(m != NULL && m[15] == 7);
    SYS_Free(m);
    int* z = (int*)SYS_Calloc(8, sizeof(int));
    EXPECT(z != NULL && z[0] == 0 && z[7] == 0);
    SYS_Free((LPBYTE)z);

    EXPECT(HP_GetHPSocketVersion() == 0x05080603u);
    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
