// HP-Socket's C++ UdpNode and UdpCast classes: a CUdpNodePtr on 127.0.0.1 (an ephemeral port)
// echoing every datagram to its sender, and a CUdpCastPtr member of multicast group
// 239.255.71.10:argv[1] on the loopback interface answering "from cast" to each datagram it
// gets from another member (on loopback it also gets its own). Prints "port <node port>" once both run, then waits for stdin to close.
#include <hpsocket/HPSocket.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>

class CNodeListener : public CUdpNodeListener
{
public:
    virtual EnHandleResult OnReceive(IUdpNode* pSender, LPCTSTR lpszRemoteAddress, USHORT usRemotePort, const BYTE* pData, int iLength) override
    {
        printf("node got %.*s from %s\n", iLength, (const char*)pData, lpszRemoteAddress);
        fflush(stdout);
        return pSender->Send(lpszRemoteAddress, usRemotePort, pData, iLength) ? HR_OK : HR_ERROR;
    }
    virtual EnHandleResult OnError(IUdpNode*, EnSocketOperation enOperation, int iErrorCode, LPCTSTR, USHORT, const BYTE*, int) override
    {
        printf("node error %d %d\n", (int)enOperation, iErrorCode);
        return HR_OK;
    }
};

class CCastListener : public CUdpCastListener
{
public:
    virtual EnHandleResult OnReceive(IUdpCast* pSender, CONNID, const BYTE* pData, int iLength) override
    {
        TCHAR addr[64];
        int len = sizeof(addr) / sizeof(TCHAR);
        USHORT port = 0;
        pSender->GetRemoteAddress(addr, len, port);
        printf("cast got %.*s from %s\n", iLength, (const char*)pData, addr);
        fflush(stdout);
        /* On loopback every member gets every datagram, this one's own included. */
        if (iLength == 9 && memcmp(pData, "from cast", 9) == 0)
            return HR_OK;
        return pSender->Send((const BYTE*)"from cast", 9) ? HR_OK : HR_ERROR;
    }
    virtual EnHandleResult OnClose(IUdpCast*, CONNID, EnSocketOperation enOperation, int iErrorCode) override
    {
        printf("cast close %d %d\n", (int)enOperation, iErrorCode);
        return HR_OK;
    }
};

int main(int argc, char** argv)
{
    if (argc < 2)
        return 2;
    CNodeListener nodeListener;
    CUdpNodePtr node(&nodeListener);
    if (!node->Start("127.0.0.1", 0))
        printf("node start failed %d\n", node->GetLastError());
    CCastListener castListener;
    CUdpCastPtr cast(&castListener);
    printf("cast mode=%d ttl=%d\n", (int)cast->GetCastMode(), cast->GetMultiCastTtl());
    if (!cast->Start("239.255.71.10", (USHORT)atoi(argv[1]), FALSE, "127.0.0.1"))
        printf("cast start failed %d\n", cast->GetLastError());
    TCHAR addr[64];
    int len = sizeof(addr) / sizeof(TCHAR);
    USHORT port = 0;
    node->GetLocalAddress(addr, len, port);
    printf("port %d\n", port);
    fflush(stdout);
    while (getchar() != EOF) {
    }
    printf("stop %d %d\n", node->Stop(), cast->Stop());
    return 0;
}
